"""The SLURM profile against a real one-node SLURM cluster (Debian slurm-wlm + munge).

A session fixture starts the cluster with tests/slurm/start_cluster.sh (it installs the packages
when missing; needs root, as in CI) and stops exactly the daemons it started at the end. Every
run goes through `--profile profiles/slurm` with the test's settings in the environment: the
partition `debug`, no GPUs (the node has none), and `--slurm-status-command squeue`, since the
cluster has no accounting daemon.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from polling import wait_until
from reduced_demo import reduced_demo

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "tests" / "slurm"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
PARTITION = "debug"  # the partition start_cluster.sh configures
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+)")


@pytest.fixture(scope="session")
def slurm_cluster():
    started = subprocess.run([SCRIPTS / "start_cluster.sh"], capture_output=True, text=True)
    assert started.returncode == 0, f"start_cluster.sh failed:\n{started.stdout}\n{started.stderr}"
    yield PARTITION
    stopped = subprocess.run([SCRIPTS / "stop_cluster.sh"], capture_output=True, text=True)
    assert stopped.returncode == 0, f"stop_cluster.sh failed:\n{stopped.stdout}\n{stopped.stderr}"


def profile_environment(**settings: str) -> dict:
    """The environment a user of profiles/slurm sets, with the venv's commands on PATH (the jobs
    inherit it through sbatch --export=ALL)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MINISUPERB_SLURM_")}
    environment["PATH"] = f"{SNAKEMAKE.parent}{os.pathsep}{environment.get('PATH', '')}"
    environment.update(settings)
    return environment


def slurm_profile_command(workdir: Path, *arguments) -> tuple[list[str], dict]:
    """`snakemake --profile profiles/slurm ...` as the test cluster needs it, and its environment."""
    command = [
        SNAKEMAKE,
        "--profile", REPO / "profiles" / "slurm",
        "--directory", workdir,
        # No accounting daemon here: sacct cannot answer, squeue can (MinJobAge=600 keeps
        # finished jobs visible).
        "--slurm-status-command", "squeue",
        # Poll soon: the test jobs take seconds, not hours.
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-keep-successful-logs",
        *arguments,
    ]
    environment = profile_environment(MINISUPERB_SLURM_PARTITION=PARTITION, MINISUPERB_SLURM_GPUS="0")
    return [str(part) for part in command], environment


def run_with_slurm_profile(workdir: Path, *arguments, timeout: int = 300) -> subprocess.CompletedProcess:
    command, environment = slurm_profile_command(workdir, *arguments)
    return subprocess.run(command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=timeout)


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """State of each job as squeue reports it (finished jobs stay listed for MinJobAge)."""
    listing = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%i|%T", "--jobs", ",".join(job_ids)],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split("|") for line in listing.split())


# Two chained rules; each writes the SLURM job id it ran under, so the outputs prove where they ran.
TINY_SNAKEFILE = textwrap.dedent(
    """
    rule all:
        input: "second.txt"

    rule first:
        output: "first.txt"
        threads: 1
        shell: "echo slurm_job=$SLURM_JOB_ID > {output}"

    rule second:
        input: "first.txt"
        output: "second.txt"
        threads: 2
        shell: "cat {input} > {output}; echo slurm_job=$SLURM_JOB_ID cpus=$SLURM_CPUS_PER_TASK >> {output}"
    """
)


def test_every_job_goes_through_sbatch_and_a_rerun_schedules_nothing(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)

    first = run_with_slurm_profile(tmp_path)
    log = first.stdout + first.stderr
    assert first.returncode == 0, log
    job_ids = SUBMITTED.findall(log)
    assert len(job_ids) == 2, f"expected 2 sbatch submissions:\n{log}"
    assert set(slurm_states(job_ids).values()) == {"COMPLETED"}

    # Each output was written inside the SLURM job Snakemake submitted for it.
    ran_under = re.findall(r"slurm_job=(\d+)", (tmp_path / "second.txt").read_text())
    assert sorted(ran_under) == sorted(job_ids)
    assert "cpus=2" in (tmp_path / "second.txt").read_text(), "threads must become --cpus-per-task"

    second = run_with_slurm_profile(tmp_path)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log
    assert "Nothing to be done" in log
    assert not SUBMITTED.findall(log)


# --- the demo DAG through the profile, with a training job cancelled mid-way ----------------------

# The reduced demo (tests/reduced_demo.py) on the one-node cluster, in a few minutes. The
# fbank/asr training job (150 steps, a checkpoint every 5) runs long enough to be cancelled mid-way.
REDUCED_DEMO = {
    **reduced_demo(asr_utterances=(32, 8, 8)),
    "extraction": {"device": "auto", "threads": 1},
    "protocols": {"demo": {"asr": {"steps": 150, "eval_every": 75, "checkpoint_every": 5}}},
    "report": {
        "mini_run": {"protocol": "demo", "sampling": "paper"},
        "points": "run", "baseline_model": "fbank", "bootstrap": 20, "seed": 0, "metrics": ["ASR_wer"],
    },
}
CANCELLED_RUN = "results/downstream/demo/paper/seed42/train1337/fbank/asr"
CANCELLED_COMMENT = re.compile(r"rule_train_wildcards_demo_paper_42_1337_fbank_asr")
# An extraction job is cancelled too, once it runs: the retry must extract the store again and
# leave nothing of the cancelled attempt.
CANCELLED_EXTRACTION = re.compile(r"rule_extract_wildcards_mfcc_asr")
CANCELLED_STORE = "results/features/mfcc/asr/paper/seed42.zarr"


@dataclass
class DemoRun:
    workdir: Path
    log: str
    returncode: int
    cancelled_job: str
    rerun: subprocess.CompletedProcess
    cancelled_extraction: str


def running_jobs(comment: re.Pattern) -> list[str]:
    """The ids of the running SLURM jobs whose comment (Snakemake's rule and wildcards) matches."""
    listing = subprocess.run(
        ["squeue", "--noheader", "--states=RUNNING", "--format=%i|%k"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("|")[0] for line in listing.split() if comment.search(line)]


def cancel_when(ready, comment: re.Pattern, what: str, snakemake: subprocess.Popen, log: Path, timeout: float = 420):
    """Wait until `ready()` and the job matching `comment` runs, then `scancel` it. Returns its
    SLURM job id."""
    running = wait_until(lambda: ready() and running_jobs(comment), timeout, what, snakemake, log, interval=0.2)
    assert len(running) == 1, f"expected one running job for {what}: {running}"
    subprocess.run(["scancel", running[0]], check=True)
    return running[0]


@pytest.fixture(scope="module")
def demo_run(slurm_cluster, tmp_path_factory) -> DemoRun:
    workdir = tmp_path_factory.mktemp("demo_on_slurm")
    (workdir / "config.yaml").write_text(yaml.safe_dump(REDUCED_DEMO, sort_keys=False))
    arguments = ["--snakefile", REPO / "Snakefile", "--configfile", workdir / "config.yaml"]
    log_path = workdir / "snakemake.out"
    with open(log_path, "w") as log_file:
        command, environment = slurm_profile_command(workdir, *arguments)
        snakemake = subprocess.Popen(command, cwd=workdir, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            # The extraction job once its command runs (its log exists); the training job once
            # it has written a checkpoint.
            extraction_log = workdir / "results/logs/features/extract/mfcc/asr/paper/seed42.log"
            cancelled_extraction = cancel_when(extraction_log.exists, CANCELLED_EXTRACTION,
                                               "a running mfcc/asr extraction", snakemake, log_path)
            checkpoint = workdir / CANCELLED_RUN / "checkpoint-last.pt"
            cancelled = cancel_when(checkpoint.exists, CANCELLED_COMMENT, "a checkpointed fbank/asr training job",
                                    snakemake, log_path)
            returncode = snakemake.wait(timeout=540)
        finally:
            if snakemake.poll() is None:
                snakemake.terminate()
    rerun = run_with_slurm_profile(workdir, *arguments)
    return DemoRun(workdir, log_path.read_text(), returncode, cancelled, rerun, cancelled_extraction)


def test_demo_dag_runs_every_job_through_sbatch(demo_run):
    assert demo_run.returncode == 0, demo_run.log
    submissions = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", demo_run.log))
    finished = dict(re.findall(r"Finished jobid: (\d+) \(Rule: (\w+)\)", demo_run.log))
    ran_here = {job: rule for job, rule in finished.items() if job not in submissions}
    assert set(ran_here.values()) <= {"all"}, f"jobs that did not go through sbatch: {ran_here}"
    assert {"demo_corpus", "prepare", "extract", "train", "collect", "report"} <= set(finished.values())
    states = slurm_states(SUBMITTED.findall(demo_run.log))
    assert states.pop(demo_run.cancelled_job) == "CANCELLED"
    assert states.pop(demo_run.cancelled_extraction) == "CANCELLED"
    assert set(states.values()) == {"COMPLETED"}


def test_demo_dag_outputs_are_complete(demo_run):
    results = demo_run.workdir / "results"
    for model in REDUCED_DEMO["models"]:
        for task in REDUCED_DEMO["tasks"]:
            metrics = json.loads((results / f"downstream/demo/paper/seed42/train1337/{model}/{task}/metrics.json").read_text())
            assert (metrics["model"], metrics["task"]) == (model, task)
            assert metrics["steps"] == REDUCED_DEMO["protocols"]["demo"][task]["steps"]
    for name in ("scores.csv", "correlation.json", "cost.csv", "report.md", "report.html"):
        assert (results / "report" / name).stat().st_size > 0, name


def test_cancelled_training_job_was_retried_and_resumed_from_its_checkpoint(demo_run):
    log = (demo_run.workdir / "results/logs/train/demo/paper/seed42/train1337/fbank/asr.log").read_text()
    resumed = re.search(r"resuming fbank/asr from step (\d+)", log)
    assert resumed, f"the retried job started from scratch:\n{log}"
    assert 0 < int(resumed.group(1)) < REDUCED_DEMO["protocols"]["demo"]["asr"]["steps"]


def test_cancelled_extraction_job_was_retried_and_left_no_partial_store(demo_run):
    from minisuperb.store import FeatureStore

    store = demo_run.workdir / CANCELLED_STORE
    opened = FeatureStore.open(store)  # complete, every file as its marker lists
    assert opened.attrs["model"] == "mfcc"
    beside = {path.name for path in store.parent.glob(f"{store.name}*")} - {store.name}
    current = Path(os.path.realpath(store)).name
    leftovers = sorted(name for name in beside if name not in (current, f"{current}.readers"))
    assert leftovers == [], f"the cancelled extraction left {leftovers}"


def test_a_second_run_of_the_demo_dag_schedules_nothing(demo_run):
    log = demo_run.rerun.stdout + demo_run.rerun.stderr
    assert demo_run.rerun.returncode == 0, log
    assert "Nothing to be done" in log
    assert not SUBMITTED.findall(log)
