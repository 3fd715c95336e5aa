"""`kill -9` of extraction, training and report jobs at several points, and of Snakemake itself.

Each fault starts from a copy of the finished reduced demo run, asks for one more job (a new
model's extraction, a second training seed, new report settings), kills it, and checks:
(a) Snakemake exits non-zero naming the failed rule and its log; (b) every file of the finished
run is intact and the killed job left no output that a later job would take as complete;
(c) the plan afterwards is the plan before the fault (nothing more to redo), and where the rerun
is run, only the killed job ran (a training job resumes from its last checkpoint).

Kills are external (`SIGKILL` of the job's real `minisuperb` process, found by its command line,
when its files show progress) where the point lasts long enough to hit; the points between two
statements (a checkpoint written but not renamed, a store published but its summary not
written) use tests/reliability/inject/sitecustomize.py to make the job SIGKILL itself there.
"""

from __future__ import annotations

import os
import re

import pytest

from reliability_harness import (
    REPORT_JOBS,
    RESULTS,
    compare,
    config_with,
    excerpt,
    extract_job,
    extract_log,
    feature_paths,
    job,
    kill_9,
    kill_env,
    lock_refusal,
    rerun_only,
    snapshot,
    train_dir,
    train_job,
)

pytestmark = pytest.mark.reliability(category="kill -9")

STORE, SUMMARY = feature_paths("mel")
VIEW_FOLDER = STORE.rsplit("/", 1)[0]  # results/features/mel/asr/paper: the view's siblings


def killed_run(workflow, outcome, point, rule: str, log: str, *targets: str):
    """Run snakemake (on `targets`) with the job killed at `point` = (external kill, environment
    of a self-kill); (a) Snakemake reports the failed rule and its log. Returns what changed."""
    act, env = point
    before = snapshot(workflow.root)
    started = workflow.start(*targets, env=env)
    if act:
        act(workflow, started)
    run = started.wait()
    assert run.returncode != 0, run.output[-3000:]
    assert f"Error in rule {rule}:" in run.output, run.output[-3000:]
    assert log in run.output, f"the error does not name the log {log}:\n{run.output[-3000:]}"
    assert "command exited with non-zero exit code" in run.output or "exit status" in run.output, run.output[-3000:]
    outcome["reported"] = (f"Snakemake: 'Error in rule {rule}: ... log: {log} ... "
                           "(command exited with non-zero exit code)', exit 1")
    return compare(before, snapshot(workflow.root))


# --- extraction --------------------------------------------------------------------------------


def _loading(workflow, started):
    """Kill as soon as the job's Python process runs (it is importing torch and s3prl)."""
    kill_9(started.wait_for_job("extract", "mel"))


def _writing(workflow, started):
    """Kill once the job is writing its store (the temporary store exists)."""
    process = started.wait_for_job("extract", "mel")
    folder = workflow.path(VIEW_FOLDER)
    started.wait_for(lambda: folder.is_dir() and any(".zarr.tmp-" in p.name for p in folder.iterdir()), 180,
                     "temporary store", interval=0.005)
    kill_9(process)


EXTRACT_POINTS = {  # point: (external kill, environment, run the rerun)
    "loading-the-model": (_loading, {}, False),
    "writing-the-store": (_writing, {}, True),
    # The store is published at its final path; the summary (Snakemake's output) is not written.
    "store-published-summary-not-written": (
        None, kill_env("minisuperb.upstreams.extract:write_json_atomic:before:1", "extract --model mel"), True),
}


def store_leftovers(workflow) -> list[str]:
    """What sits beside the view `mel/asr/paper/seed42.zarr` besides the link, the version it
    names and the summary."""
    link = workflow.path(STORE)
    current = os.readlink(link) if link.is_symlink() else None
    keep = {link.name, workflow.path(SUMMARY).name, *([current, f"{current}.readers"] if current else [])}
    return sorted(p.name for p in link.parent.glob(f"{link.stem}.*") if p.name not in keep)


@pytest.mark.parametrize("point", list(EXTRACT_POINTS))
def test_kill_extraction(point, workflow, finished_run, outcome):
    act, env, rerun_it = EXTRACT_POINTS[point]
    expected = finished_run.configure(workflow, config_with(new_model=True))
    assert expected == {extract_job("mel"), train_job("mel"), *REPORT_JOBS}

    difference = killed_run(workflow, outcome, (act, env), "extract", f"{RESULTS}/logs/{extract_log('mel')}",
                            SUMMARY)

    outcome["lost"] = difference.unexpected()
    assert outcome["lost"] == []
    # Nothing at the final paths: a later training job cannot take a partial store as complete.
    assert not workflow.path(STORE).exists() and not workflow.path(SUMMARY).exists()
    leftovers = store_leftovers(workflow)
    if leftovers:
        outcome["notes"] = f"left {', '.join(leftovers)}: no reader opens it; the next extraction of this store removes it"
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected

    if rerun_it:  # the extraction alone, again: it completes and clears what the kill left
        rerun_only(workflow, {extract_job("mel")}, (f"{RESULTS}/features/mel/",), SUMMARY)
        assert store_leftovers(workflow) == [], "the rerun left the killed job's leftovers"
        outcome["rerun"] = [f"ran {extract_job('mel')} (leftovers removed); then planned: "
                            + ", ".join(sorted(expected - {extract_job("mel")}))]


# --- training ----------------------------------------------------------------------------------

TRAIN7 = train_dir("fbank", train_seed=7)
TRAIN7_LOG = "results/logs/train/demo/paper/seed42/train7/fbank/asr.log"
TRAIN7_METRICS = f"{TRAIN7}/metrics.json"


def _wait_for_a_checkpoint(workflow, started):
    checkpoint = workflow.path(TRAIN7) / "checkpoint-last.pt"
    started.wait_for(checkpoint.exists, 180, "checkpoint", interval=0.005)


def _after_a_checkpoint(workflow, started):
    """Kill the training process once it has written a checkpoint (step 5 of 40)."""
    _wait_for_a_checkpoint(workflow, started)
    kill_9(started.wait_for_job("train", "fbank", timeout=10))


def resumed_rerun(workflow) -> str:
    """(c) the rerun of the killed head: only its job runs, resumed from its last complete
    checkpoint, and no other file changes. Returns the outcome's line."""
    rerun_only(workflow, {train_job("fbank", train_seed=7)}, (TRAIN7 + "/",), TRAIN7_METRICS)
    log = workflow.path(TRAIN7_LOG).read_text()
    resumed = re.search(r"resuming fbank/asr from step (\d+)", log)
    assert resumed and 0 < int(resumed.group(1)) < 40, f"the killed job did not resume:\n{log[-2000:]}"
    return f"ran {train_job('fbank', train_seed=7)}, resumed from step {resumed.group(1)}"


TRAIN_POINTS = {
    "after-a-checkpoint": (_after_a_checkpoint, {}, True),
    # The second checkpoint (step 10) is written to its temporary file but not renamed.
    "writing-a-checkpoint": (None, kill_env("torch:save:after:2", "train --task asr --model fbank"), True),
    # metrics.json (Snakemake's output) is written, the process has not exited yet.
    "metrics-written-not-exited": (
        None, kill_env("minisuperb.downstream.loop:write_json_atomic:after:1", "train --task asr --model fbank"), False),
}


@pytest.mark.parametrize("point", list(TRAIN_POINTS))
def test_kill_training(point, workflow, finished_run, outcome):
    act, env, rerun_it = TRAIN_POINTS[point]
    expected = finished_run.configure(workflow, config_with(train_seeds=[1337, 7]))
    assert expected == {train_job("fbank", train_seed=7), train_job("mfcc", train_seed=7), *REPORT_JOBS}

    difference = killed_run(workflow, outcome, (act, env), "train", TRAIN7_LOG, TRAIN7_METRICS)

    outcome["lost"] = difference.unexpected()
    assert outcome["lost"] == []
    assert not workflow.path(TRAIN7_METRICS).exists(), "a killed job's metrics.json was kept"
    leftovers = sorted(p.name for p in workflow.path(TRAIN7).glob("*.tmp"))
    if leftovers:
        outcome["notes"] = f"left {', '.join(leftovers)}: never read, replaced by the next checkpoint"
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected
    if rerun_it:
        outcome["rerun"] = [resumed_rerun(workflow)]


# --- report ------------------------------------------------------------------------------------


def _first_output_written(workflow, started):
    """Kill once the report job has written its first file (Snakemake deleted the old report
    when the job started, so any file there is the new job's)."""
    first_output = workflow.path(f"{RESULTS}/report/correlation.json")
    process = started.wait_for_job("report")
    started.wait_for(first_output.exists, 120, "the report's first output", interval=0.005)
    kill_9(process)


REPORT_POINTS = {
    "first-output-written": (_first_output_written, {}),
    # report.md is written, report.html not yet.
    "markdown-written-html-not": (None, kill_env("minisuperb.report.build:to_html:before:1", "minisuperb report")),
}


@pytest.mark.parametrize("point", list(REPORT_POINTS))
def test_kill_report(point, workflow, finished_run, outcome):
    expected = finished_run.configure(workflow, config_with(bootstrap=21))
    assert expected == {job("report")}

    difference = killed_run(workflow, outcome, REPORT_POINTS[point], "report", "results/logs/report/report.log")

    # The report's old outputs were deleted by Snakemake when the new report job started: its
    # settings changed, so they were to be replaced anyway.
    outcome["lost"] = difference.unexpected(allowed=(f"{RESULTS}/report/",))
    assert outcome["lost"] == []
    kept = [path for path in difference.changed if path.startswith(f"{RESULTS}/report/")]
    assert kept == [], f"report files half-rewritten and kept: {kept}"
    for name in ("results.csv", "training.csv"):  # collect's outputs
        assert f"{RESULTS}/report/{name}" not in difference.removed + difference.changed
    left = sorted(p.name for p in workflow.path(f"{RESULTS}/report").rglob("*")
                  if p.is_file() and p.name not in ("results.csv", "training.csv"))
    assert left == [], f"a killed report job's outputs were kept: {left}"

    outcome["rerun"] = sorted(rerun_only(workflow, expected, (f"{RESULTS}/report/",)).finished_jobs)


# --- Snakemake itself --------------------------------------------------------------------------


def test_kill_snakemake_itself(workflow, finished_run, outcome):
    """A power cut: Snakemake and its running training job die with SIGKILL; the lock stays."""
    expected = finished_run.configure(workflow, config_with(train_seeds=[1337, 7]))
    before = snapshot(workflow.root)

    started = workflow.start(TRAIN7_METRICS)
    _wait_for_a_checkpoint(workflow, started)
    started.kill_group()
    started.wait()

    refused = workflow.run(TRAIN7_METRICS)
    assert refused.returncode != 0
    outcome["reported"] = excerpt(lock_refusal(refused.output), 500)
    outcome["lost"] = compare(before, snapshot(workflow.root)).unexpected()
    assert outcome["lost"] == []
    assert not workflow.path(TRAIN7_METRICS).exists()

    unlocked = workflow.run("--unlock")
    assert unlocked.returncode == 0, unlocked.output[-3000:]
    assert workflow.plan() == expected
    outcome["rerun"] = ["snakemake --unlock", resumed_rerun(workflow)]
