"""Incremental runs: after a complete run, a config edit plans only the jobs it concerns.

Each job sees only its own model's or task's slice of the config (`params`), and Snakemake
reruns a job when its params, code or inputs change. These dry runs, through Snakemake's Python
API, check that on the default (demo) config:
- adding a model plans only that model's extraction and training jobs, plus the aggregation and
  the report;
- changing one model's entry reruns only that model's jobs (plus aggregation and report);
- changing the report settings reruns only the report.

The "complete run" is made without computing anything (`snakemake_api.complete_run`); a dry run
of the unchanged config then plans nothing.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from minisuperb.config import validate_config
from snakemake_api import complete_run, dry_run

REPO = Path(__file__).resolve().parents[1]
NEW_MODEL = ("mel", {"loader": "s3prl", "name": "mel", "reference": None})


def rules_of(stage: str) -> set[str]:
    text = (REPO / "rules" / f"{stage}.smk").read_text()
    return set(re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.MULTILINE))


# Jobs that read every model's results: they rerun whenever any model changes.
AGGREGATION_AND_REPORT = rules_of("report") | {"all"}


@pytest.fixture(scope="module")
def demo_config() -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert NEW_MODEL[0] not in config["models"]
    return config


@pytest.fixture(scope="module")
def completed(tmp_path_factory, demo_config) -> Path:
    workdir = tmp_path_factory.mktemp("complete_run")
    complete_run(workdir, demo_config)
    return workdir


def jobs_of_other_models(jobs, model: str):
    return [job for job in jobs if job.rule not in AGGREGATION_AND_REPORT and job.wildcards.get("model") != model]


def expected_model_jobs(config: dict, model: str, tasks=None) -> set[tuple]:
    """(rule, task, protocol, sampling, seed, train_seed) of the extraction and training jobs of
    one model (of all its tasks, or of `tasks`)."""
    tasks = config["tasks"] if tasks is None else tasks
    extraction = {  # one feature view per (sampling, seed)
        ("extract", task, None, run["sampling"], str(seed), None)
        for task in tasks
        for run in config["runs"]
        for seed in config["sampling"]["seeds"]
    }
    training = {
        ("train", task, run["protocol"], run["sampling"], str(seed), str(train_seed))
        for task in tasks
        for run in config["runs"]
        for seed in config["sampling"]["seeds"]
        for train_seed in validate_config(copy.deepcopy(config))["downstream"]["train_seeds"]
    }
    return extraction | training


def model_jobs(jobs, model: str) -> set[tuple]:
    return {
        (job.rule, job.wildcards["task"], *(job.wildcards.get(key) for key in ("protocol", "sampling", "seed", "train_seed")))
        for job in jobs
        if job.wildcards.get("model") == model and job.rule in {"extract", "train"}
    }


def test_an_unchanged_config_plans_nothing(completed, demo_config):
    assert dry_run(completed, demo_config) == []


def test_adding_a_model_plans_only_its_jobs_and_the_report(completed, demo_config):
    config = copy.deepcopy(demo_config)
    name, entry = NEW_MODEL
    config["models"][name] = entry
    jobs = dry_run(completed, config)

    assert not jobs_of_other_models(jobs, name)
    assert model_jobs(jobs, name) == expected_model_jobs(config, name)
    assert {"collect", "report"} <= {job.rule for job in jobs}


def test_changing_one_model_reruns_only_that_model(completed, demo_config):
    config = copy.deepcopy(demo_config)
    name = sorted(config["models"])[0]
    config["models"][name]["batch_seconds"] = 7.5  # the job's batching: its features must be redone
    jobs = dry_run(completed, config)

    assert not jobs_of_other_models(jobs, name)
    assert model_jobs(jobs, name) == expected_model_jobs(config, name)


def test_a_per_task_override_reruns_only_that_model_and_task(completed, demo_config):
    config = copy.deepcopy(demo_config)
    config["models"]["fbank"]["tasks"]["sid"] = {"name": "fbank"}  # SID back to CMVN
    jobs = dry_run(completed, config)

    assert not jobs_of_other_models(jobs, "fbank")
    assert model_jobs(jobs, "fbank") == expected_model_jobs(config, "fbank", tasks=["sid"])
    extract = next(job for job in jobs if job.rule == "extract")
    assert yaml.safe_load(extract.params["settings"]) == {"loader": "s3prl", "name": "fbank"}


def test_a_training_seed_plans_only_training_jobs(completed, demo_config):
    config = copy.deepcopy(demo_config)
    config.setdefault("downstream", {})["train_seeds"] = [1337, 7]
    jobs = dry_run(completed, config)

    training = [job for job in jobs if job.rule not in AGGREGATION_AND_REPORT]
    assert {job.rule for job in training} == {"train"} and {job.wildcards["train_seed"] for job in training} == {"7"}
    assert len(training) == len(config["tasks"]) * len(config["runs"]) * len(config["models"])


def test_changing_the_report_settings_reruns_only_the_report(completed, demo_config):
    config = copy.deepcopy(demo_config)
    config["report"]["bootstrap"] = config["report"].get("bootstrap", 1000) + 1
    jobs = dry_run(completed, config)

    assert {job.rule for job in jobs} <= {"report", "all"}
    assert "report" in {job.rule for job in jobs}


def test_a_store_moved_away_is_extracted_again_when_a_job_needs_it(completed, demo_config, tmp_path):
    """The store is an output of its extraction and an input of training. Finished jobs are
    left alone (Snakemake treats it as any intermediate file), but a new training job on a store
    that was moved away plans its extraction again, instead of failing inside training."""
    model, task = sorted(demo_config["models"])[0], demo_config["tasks"][0]
    run = demo_config["runs"][0]
    store = completed / demo_config["results"] / "features" / model / task / run["sampling"] / "seed42.zarr"
    assert store.is_dir()
    config = copy.deepcopy(demo_config)
    config.setdefault("downstream", {})["train_seeds"] = [1337, 7]
    store.rename(tmp_path / "moved.zarr")
    try:
        jobs = dry_run(completed, config)
    finally:
        (tmp_path / "moved.zarr").rename(store)
    views = {(job.wildcards["model"], job.wildcards["task"], job.wildcards["sampling"]) for job in jobs if job.rule == "extract"}
    assert views == {(model, task, run["sampling"])}
    # The re-extracted store is new input: its finished heads are trained again, no others.
    retrained = {(job.wildcards["model"], job.wildcards["task"], job.wildcards["sampling"]) for job in jobs
                 if job.rule == "train" and job.wildcards["train_seed"] == "1337"}
    assert retrained == {(model, task, run["sampling"])}
