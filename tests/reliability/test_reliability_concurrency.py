"""Two Snakemake runs on one results folder: the second is refused while the first runs.

The first run trains a head for a second training seed; while its job runs, a second run of the
whole workflow (which would run that same job) starts in the same folder. A second fault: a
third run after a second run with other outputs ended (Snakemake then forgets the first run's
lock). Checked: (a) the
second exits non-zero at once with Snakemake's lock error, which names the folder and the way
out (`--unlock` once no other run is left); (b) it wrote nothing, and the first run finishes
as if alone; (c) afterwards the plan is the plan before less the first run's job.
"""

from __future__ import annotations

import pytest

from reliability_harness import (
    RESULTS,
    clear_error,
    compare,
    config_with,
    excerpt,
    hold_env,
    job_log,
    lock_refusal,
    snapshot,
    train_dir,
    train_job,
)

pytestmark = pytest.mark.reliability(category="concurrency")


def test_two_runs_on_one_results_folder(workflow, finished_run, outcome):
    expected = finished_run.configure(workflow, config_with(train_seeds=[1337, 7]))
    folder = train_dir("fbank", train_seed=7)

    release = workflow.root / "release"
    first = workflow.start(f"{folder}/metrics.json", env=hold_env("train --task asr --model fbank", release))
    first.wait_for_job("train", "fbank")
    before = snapshot(workflow.root)
    second = workflow.run()
    assert first.alive(), "the first run ended before the second was refused: the check proved nothing"
    during = snapshot(workflow.root)
    release.touch()  # the first run's job goes on

    assert second.returncode != 0
    outcome["reported"] = excerpt(lock_refusal(second.output), 500)
    # Only the first run's own job changed files meanwhile.
    assert compare(before, during).unexpected(allowed=(folder + "/",)) == []
    assert not [path for path in compare(before, during).added if not path.startswith((folder, f"{RESULTS}/logs/"))]

    done = first.wait()
    assert done.returncode == 0, done.output[-3000:]
    assert done.finished_jobs == {train_job("fbank", train_seed=7)}
    outcome["lost"] = compare(finished_run.files, snapshot(workflow.root)).unexpected()
    assert outcome["lost"] == []
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected - {train_job("fbank", train_seed=7)}


def test_a_third_run_after_a_disjoint_second_run_ended(workflow, finished_run, outcome):
    """Snakemake lets two runs with disjoint outputs share a folder, and 9.27 deletes every
    run's locks when any run ends. So: run A trains a head (held at its first checkpoint), run B
    trains another head and ends, and run C of the whole workflow is *not* refused while A runs:
    it plans A's job again. The training job's own lock must refuse that second copy."""
    expected = finished_run.configure(workflow, config_with(train_seeds=[1337, 7]))
    release = workflow.root / "release"
    first = workflow.start(f"{train_dir('fbank', train_seed=7)}/metrics.json",
                           env=hold_env("train --task asr --model fbank", release))
    try:
        first.wait_for_job("train", "fbank")
        second = workflow.run(f"{train_dir('mfcc', train_seed=7)}/metrics.json")
        assert second.returncode == 0 and second.finished_jobs == {train_job("mfcc", train_seed=7)}, second.output[-3000:]
        first.wait_for(workflow.path(train_dir("fbank", train_seed=7) + "/.train.lock").exists, 120,
                       "run A's job to hold its run folder")
        before = snapshot(workflow.root)
        third = workflow.run()
        assert first.alive(), "run A ended early: the check proved nothing"
    finally:
        release.touch()
    done = first.wait()
    assert done.returncode == 0, f"run A did not finish as if alone:\n{done.output[-3000:]}"

    assert third.returncode != 0
    refused_by_snakemake = "cannot be locked" in third.output
    if refused_by_snakemake:
        outcome["reported"] = excerpt(lock_refusal(third.output), 400)
    else:
        message = clear_error(job_log(workflow, "train/demo/paper/seed42/train7/fbank/asr.log"), "train")
        assert "another job is training this head" in message, message
        outcome["reported"] = excerpt(message, 500)
        outcome["notes"] = "Snakemake did not refuse run C (run B's end removed run A's locks); the job's lock did"
    lost = compare(before, snapshot(workflow.root)).unexpected(allowed=(train_dir("fbank", train_seed=7) + "/",))
    outcome["lost"] = lost
    assert lost == []
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected - {train_job("mfcc", train_seed=7), train_job("fbank", train_seed=7)}
