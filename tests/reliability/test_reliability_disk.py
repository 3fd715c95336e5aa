"""A full disk while a job writes a feature store, a training checkpoint and the report.

The folder the job writes to is put on a small tmpfs (root only: the test is skipped, saying
why, elsewhere), and the tmpfs is filled up as soon as the job's process starts (another
program filling the disk). Checked: (a) the job fails with `minisuperb <command>: error:` naming
the full disk, the file or store and what to free, never a traceback; (b) no partial output
stays behind at a final path and nothing of the finished run is lost; (c) once space is freed,
the plan is the plan before the fault (the report's rerun is run: only the report runs).
"""

from __future__ import annotations

import pytest

from minisuperb.store.reuse import TURN_LOCK
from reliability_harness import (
    REPORT_JOBS,
    RESULTS,
    compare,
    clear_error,
    config_with,
    excerpt,
    extract_job,
    extract_log,
    feature_paths,
    fill,
    job,
    job_log,
    mount_tmpfs,
    rerun_only,
    snapshot,
    train_dir,
    train_job,
)

pytestmark = pytest.mark.reliability(category="disk full")


def small_disk(workflow, folder: str):
    """Put `folder` of the run on a 2 MB tmpfs (keeping its files and their mtimes), or skip
    the test, saying why (not root)."""
    point = workflow.path(folder)
    why_not = mount_tmpfs(point, "2m")
    if why_not:
        pytest.skip(why_not)
    return point


def full_disk_run(workflow, mount_point, process_words, target=None, leave_bytes=16 * 1024):
    """Run snakemake (on `target`) and fill the tmpfs at `mount_point` once the job runs."""
    started = workflow.start(*([target] if target else []))
    started.wait_for_job(*process_words, timeout=180)
    filler = fill(mount_point, leave_bytes)
    return started.wait(), filler


def test_disk_full_while_writing_a_store(workflow, finished_run, outcome):
    expected = finished_run.configure(workflow, config_with(new_model=True))
    assert expected == {extract_job("mel"), train_job("mel"), *REPORT_JOBS}
    point = small_disk(workflow, f"{RESULTS}/features/mel")
    store, summary = feature_paths("mel")
    before = snapshot(workflow.root)

    run, filler = full_disk_run(workflow, point, ("extract", "mel"), target=summary, leave_bytes=32 * 1024)

    assert run.returncode != 0
    message = clear_error(job_log(workflow, extract_log("mel")), "extract")
    assert "disk is full" in message and "free at least" in message, message
    outcome["reported"] = excerpt(message)
    outcome["lost"] = compare(before, snapshot(workflow.root)).unexpected()
    assert outcome["lost"] == []
    assert not workflow.path(store).exists() and not workflow.path(summary).exists()
    # Left: the filler and the (model, task) folder's extraction lock, no file of a store.
    left = sorted(p.relative_to(point).as_posix() for p in point.rglob("*")
                  if not p.is_dir() and p != filler and p.name != TURN_LOCK)
    assert left == [], f"the partial store was left behind: {left}"

    filler.unlink()  # space freed
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected


def test_disk_full_while_writing_a_checkpoint(workflow, finished_run, outcome):
    expected = finished_run.configure(workflow, config_with(train_seeds=[1337, 7]))
    folder = train_dir("fbank", train_seed=7)
    point = small_disk(workflow, folder)
    before = snapshot(workflow.root)

    run, filler = full_disk_run(workflow, point, ("train", "fbank"), target=f"{folder}/metrics.json")

    assert run.returncode != 0
    message = clear_error(job_log(workflow, "train/demo/paper/seed42/train7/fbank/asr.log"), "train")
    assert "No space left on device" in message and "checkpoint-last.pt" in message and "Free space" in message, message
    outcome["reported"] = excerpt(message)
    outcome["lost"] = compare(before, snapshot(workflow.root)).unexpected()
    assert outcome["lost"] == []
    left = sorted(p.name for p in point.iterdir() if p.name not in (filler.name, ".train.lock"))
    assert left == [], f"a partial checkpoint was left behind: {left}"

    filler.unlink()
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected
    assert expected == {train_job("fbank", train_seed=7), train_job("mfcc", train_seed=7), *REPORT_JOBS}


def test_disk_full_while_writing_the_report(workflow, finished_run, outcome):
    expected = finished_run.configure(workflow, config_with(bootstrap=21))
    assert expected == {job("report")}
    point = small_disk(workflow, f"{RESULTS}/report")  # keeps collect's results.csv and training.csv
    before = snapshot(workflow.root)

    run, filler = full_disk_run(workflow, point, ("report",))

    assert run.returncode != 0
    message = clear_error(job_log(workflow, "report/report.log"), "report")
    assert "No space left on device" in message and "results/report" in message and "Free space" in message, message
    outcome["reported"] = excerpt(message)
    difference = compare(before, snapshot(workflow.root))
    # The old report was deleted by Snakemake when the job started (its settings changed).
    outcome["lost"] = difference.unexpected(allowed=(f"{RESULTS}/report/",))
    for name in ("results.csv", "training.csv"):
        if f"{RESULTS}/report/{name}" in difference.removed + difference.changed:
            outcome["lost"].append(f"{RESULTS}/report/{name}")
    assert outcome["lost"] == []
    partial = sorted(p.name for p in point.rglob("*") if p.is_file() and p.name not in
                     ("results.csv", "training.csv", filler.name))
    assert partial == [], f"partial report files were kept: {partial}"

    filler.unlink()
    outcome["rerun"] = sorted(rerun_only(workflow, expected, (f"{RESULTS}/report/",)).finished_jobs)
