"""Per-run overrides (`runs: [{..., tasks, seeds, train_seeds}]`) and the studies config, planned
through Snakemake's Python API (dry runs: nothing is computed)."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest
import yaml

from snakemake_api import dry_run

REPO = Path(__file__).resolve().parents[1]


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


def small_config() -> dict:
    config = load("config.yaml")
    config["models"] = {name: config["models"][name] for name in ("fbank", "mfcc")}
    config["report"]["expectations"] = []  # the demo's name models left out here
    config["runs"] = [
        {"protocol": "demo_full", "sampling": "full"},
        {"protocol": "demo", "sampling": "k2", "tasks": ["sid"]},
        {"protocol": "demo", "sampling": "min1", "tasks": ["asr"], "train_seeds": [5]},
        {"protocol": "demo", "sampling": "paper", "tasks": ["sid", "ss"], "seeds": [1, 2], "train_seeds": [3, 4]},
    ]
    config["report"]["mini_run"] = {"protocol": "demo", "sampling": "paper"}
    config["report"]["studies"] = {"seeds": {"protocol": "demo", "sampling": "paper"}, "few_shot": {"protocol": "demo"}}
    return config


def training(jobs) -> set[tuple]:
    keys = ("protocol", "sampling", "seed", "train_seed", "task", "model")
    return {tuple(job.wildcards[key] for key in keys) for job in jobs if job.rule == "train"}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    return dry_run(tmp_path_factory.mktemp("overrides"), small_config())


def test_a_run_trains_only_its_own_tasks_and_seeds(planned):
    models = ("fbank", "mfcc")
    expected = {("demo_full", "full", "42", "1337", task, m) for task in ("asr", "sid", "se", "ss") for m in models}
    expected |= {("demo", "k2", "42", "1337", "sid", m) for m in models}
    expected |= {("demo", "min1", "42", "5", "asr", m) for m in models}
    expected |= {("demo", "paper", s, t, task, m) for s in "12" for t in "34" for task in ("sid", "ss") for m in models}
    assert training(planned) == expected


def test_only_the_subsets_of_a_task_s_runs_are_drawn(planned):
    drawn = {(job.wildcards["task"], job.wildcards["sampling"], job.wildcards["seed"])
             for job in planned if job.rule == "subsample"}
    full = {(task, "full", "42") for task in ("asr", "sid", "se", "ss")}
    assert drawn == full | {("sid", "k2", "42"), ("asr", "min1", "42")} | {
        (task, "paper", seed) for task in ("sid", "ss") for seed in "12"}


def test_the_report_declares_the_figures_of_the_configured_studies(planned):
    report = next(job for job in planned if job.rule == "report")
    figures = {Path(path).name for path in report.output if "/figures/" in path}
    assert {"ranking.png", "study_seeds.png", "study_few_shot.png"} <= figures
    assert not figures & {"study_fractions.png", "study_task_subsets.png"}
    assert yaml.safe_load(report.params["settings"])["studies"]["seeds"] == {"protocol": "demo", "sampling": "paper"}


@pytest.mark.parametrize("change, message", [
    (lambda c: c["runs"].append({"protocol": "demo", "sampling": "k2"}), "lists protocol demo with sampling k2 twice"),
    (lambda c: c["runs"][1].update(tasks=["sid", "er"]), r"runs \(demo/k2\) names task\(s\) er"),
    (lambda c: c.update(tasks=["asr", "sid", "se"]), r"names task\(s\) ss, which `tasks` \(asr, sid, se\) does not list"),
    (lambda c: c["report"]["studies"].update(fractions={"protocol": "demo"}), "studies.fractions: no run of protocol demo samples frac"),
    (lambda c: c["report"].update(full_run=None) or c["report"]["studies"].update(task_subsets=True),
     "studies task_subsets, few_shot compare with report.full_run, which is not set"),
    (lambda c: c["runs"][3].update(seeds=[]), "should be non-empty|is too short"),
])
def test_bad_overrides_and_studies_fail_while_planning(tmp_path, change, message):
    config = small_config()
    change(config)
    with pytest.raises(Exception, match=message):
        dry_run(tmp_path, config)


def test_the_studies_config_plans_every_study(tmp_path):
    """config/studies.yaml: the jobs of the four studies, on the demo corpus."""
    config = load("studies.yaml")
    jobs = dry_run(tmp_path, copy.deepcopy(config))
    counts = Counter(job.rule for job in jobs)
    models, tasks = len(config["models"]), len(config["tasks"])
    fractions = ["frac0.01", "frac0.05", "frac0.1", "frac0.2", "frac0.5", "frac1.0"]
    trained = Counter((job.wildcards["protocol"], job.wildcards["sampling"]) for job in jobs if job.rule == "train")
    # 1% and 5% leave SID speakers without training utterances: those two train ASR, SE and SS.
    assert {s: trained[("study", s)] for s in fractions} == {s: models * (tasks - (s in fractions[:2])) for s in fractions}
    assert trained[("study_full", "full")] == models * tasks
    assert trained[("study", "paper")] == 3 * 3 * models  # sampling x training seeds, SID only
    assert {s: trained[("study", s)] for s in ("k1", "k2", "k5", "k11", "min1", "min2", "min4")} == dict.fromkeys(
        ("k1", "k2", "k5", "k11", "min1", "min2", "min4"), models)
    assert counts["train"] == sum(trained.values()) == models * (7 * tasks - 2 + 3 * 3 + 7)
    report = next(job for job in jobs if job.rule == "report")
    assert {f"study_{name}.png" for name in ("fractions", "seeds", "task_subsets", "few_shot")} <= {
        Path(path).name for path in report.output}
