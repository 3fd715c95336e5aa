"""Damaged inputs: a feature store with flipped bytes or a deleted shard, a VoxCeleb split file
listing one file in train and test, truncated audio (FLAC and WAV), a manifest and a subset
list cut short, and a store of another model version.

Each fault damages a copy of the finished reduced demo run and runs the job that reads the
damaged file. Checked: (a) that job fails with `minisuperb <command>: error:` naming the file
and the fix, never a traceback; (b) no output is made from the damaged file and nothing else
of the finished run is lost; (c) after the fix the message gives, the plan is the plan before
the fault plus only what was lost (a rebuilt store is new input for the heads trained on it).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess

import pytest

from minisuperb import cli
from minisuperb.upstreams.registry import model_hash, task_entry
from reliability_harness import (
    CONFIG,
    REPORT_JOBS,
    RESULTS,
    clear_error,
    compare,
    config_with,
    excerpt,
    extract_job,
    extract_log,
    feature_paths,
    job,
    job_log,
    rerun_only,
    snapshot,
    train_dir,
    train_job,
)

pytestmark = pytest.mark.reliability(category="damaged input")

ASR_DATA = f"{RESULTS}/data/asr"
REWRITE_DATA = ("data", "--forcerun", "prepare")  # the fix the data stage's messages give


def manifest_records(workflow, split="train", task="asr"):
    path = workflow.path(f"{RESULTS}/data/{task}/manifest/{split}.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def cut(path, keep_bytes):
    data = path.read_bytes()
    path.write_bytes(data[:keep_bytes])


def unlike_pristine(finished_run, workflow) -> list[str]:
    """Files of the finished run whose bytes differ from it now, or that are gone (logs aside)."""
    now = snapshot(workflow.root)
    return sorted(path for path, state in finished_run.files.items() if not path.startswith(f"{RESULTS}/logs/")
                  and (path not in now or now[path].digest != state.digest))


def extracted_flac(workflow):
    """The audio of the first utterance of the feature views' train list (the ASR corpus is FLAC)."""
    utt_id = workflow.path(f"{ASR_DATA}/subsets/paper/seed42/train.txt").read_text().splitlines()[0]
    record = next(r for r in manifest_records(workflow, "train") if r["id"] == utt_id)
    return workflow.path(record["path"])


# --- the feature store -------------------------------------------------------------------------


def _flip_bytes(store):
    shard = store / "train" / "features" / "c" / "0" / "0" / "0"
    data = bytearray(shard.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    shard.write_bytes(bytes(data))
    return "checksum"


def _delete_shard(store):
    (store / "train" / "features" / "c" / "0" / "0" / "0").unlink()
    return "missing"


STORE_DAMAGE = {"flipped-bytes-in-a-shard": _flip_bytes, "deleted-shard": _delete_shard}


@pytest.mark.parametrize("damage", list(STORE_DAMAGE))
def test_damaged_store(damage, workflow, finished_run, outcome):
    """A second training seed reads the damaged fbank store."""
    expected = finished_run.configure(workflow, config_with(train_seeds=[1337, 7]))
    store, summary = feature_paths("fbank")
    STORE_DAMAGE[damage](workflow.path(store))
    before = snapshot(workflow.root)
    target = f"{train_dir('fbank', train_seed=7)}/metrics.json"

    run = workflow.run(target)

    assert run.returncode != 0
    message = clear_error(job_log(workflow, "train/demo/paper/seed42/train7/fbank/asr.log"), "train")
    assert store in message and "delete the folder" in message and summary in message, message
    outcome["reported"] = excerpt(message)
    outcome["lost"] = compare(before, snapshot(workflow.root)).unexpected()
    assert outcome["lost"] == [] and not workflow.path(target).exists()

    # The fix the message gives, as a user types it (the store path is a link to its version).
    subprocess.run(["rm", "-rf", store, summary], cwd=workflow.root, check=True)
    outcome["rerun"] = sorted(workflow.plan())
    # The rebuilt store is a new store (a new store_id): the head trained on it is trained again.
    assert set(outcome["rerun"]) == expected | {extract_job("fbank"), train_job("fbank")}


def test_store_of_another_model_version(workflow, finished_run, outcome):
    """The mfcc entry is edited (its model hash changes) and its old store is kept."""
    config = config_with(model_entry=("mfcc", {"precision": "bfloat16"}))
    workflow.write_config(config)
    store, summary = feature_paths("mfcc")
    before = snapshot(workflow.root)

    # The workflow re-extracts the store before any head is trained on it again.
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == {extract_job("mfcc"), train_job("mfcc"), *REPORT_JOBS}
    # A training job that is told the new hash refuses the old store (e.g. `minisuperb train`
    # run by hand with --model-hash).
    new_hash = model_hash(task_entry(config["models"]["mfcc"], "asr"))
    assert new_hash != json.loads(workflow.path(summary).read_text())["model_hash"]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli.main([
            "train", "--task", "asr", "--model", "mfcc", "--store", str(workflow.path(store)),
            "--model-hash", new_hash, "--manifest-dir", str(workflow.path(f"{ASR_DATA}/manifest")),
            "--subset-dir", str(workflow.path(f"{ASR_DATA}/subsets/paper/seed42")),
            "--protocol", "demo", "--sampling", "paper", "--settings", "{}", "--seed", "42",
            "--train-seed", "1337", "--out-dir", str(workflow.root / "by-hand"),
        ])
    message = clear_error(stderr.getvalue(), "train")
    assert status == 2 and "configuration changed since extraction" in message, message
    assert compare(before, snapshot(workflow.root)).unexpected() == []
    outcome["reported"] = ("the plan re-extracts mfcc/asr before any head trains on it (its params changed); "
                           "by hand, `minisuperb train --model-hash <new>` on the old store: " + excerpt(message, 300))
    outcome["lost"] = []


def test_weights_replaced_at_the_same_path(workflow, finished_run, outcome):
    """A model with a local checkpoint, extracted and trained; then its checkpoint file is
    replaced by other weights under the same name (the config entry unchanged)."""
    weights = workflow.root / "weights" / "local.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"first weights")
    config = config_with()
    config["models"]["local"] = {"loader": "s3prl", "name": "fbank", "path": str(weights), "reference": None}
    workflow.write_config(config)
    # Its view and head, really run (`--touch` would record no params for the jobs).
    metrics = f"{train_dir('local')}/metrics.json"
    first = workflow.run(metrics)
    assert first.returncode == 0, first.output[-3000:]
    summary = feature_paths("local")[1]
    first_hash = json.loads(workflow.path(summary).read_text())["model_hash"]
    assert workflow.plan() == REPORT_JOBS

    weights.write_bytes(b"other weights, same file name")
    new_hash = model_hash(task_entry(config["models"]["local"], "asr"))
    assert new_hash != first_hash
    # (a) the plan says it: the model's view is extracted again and its head retrained on it.
    planned = workflow.plan()
    assert planned == {extract_job("local"), train_job("local"), *REPORT_JOBS}, \
        f"the store of the old weights would be reused: {sorted(planned)}"
    outcome["reported"] = ("the plan re-extracts the view local/asr/paper/seed42 (its model version param, "
                           "which fingerprints the checkpoint, changed) and retrains its head")
    # (b) and (c): the rerun runs exactly those jobs, changes no file of another model, and the
    # view now holds the features of the new weights.
    rerun = rerun_only(workflow, {extract_job("local"), train_job("local")},
                       (f"{RESULTS}/features/local/", train_dir("local") + "/"), metrics)
    outcome["lost"] = []
    outcome["rerun"] = sorted(rerun.finished_jobs)
    assert json.loads(workflow.path(summary).read_text())["model_hash"] == new_hash
    assert workflow.plan() == REPORT_JOBS


# --- corpus files read by the data stage -------------------------------------------------------


def _sid_split_twice(workflow):
    split_file = workflow.path(f"{RESULTS}/data/corpus/demo/VoxCeleb1/iden_split.txt")
    lines = split_file.read_text().splitlines()
    train_line = next(line for line in lines if line.startswith("1 "))
    split_file.write_text("\n".join([*lines, "3 " + train_line[2:]]) + "\n")
    return "occur in two splits", train_line[2:].removesuffix(".wav").replace("/", "-")


def _truncated_wav(workflow):
    wav = sorted(workflow.path(f"{RESULTS}/data/corpus/demo/VoxCeleb1").rglob("*.wav"))[0]
    cut(wav, wav.stat().st_size * 2 // 3)
    return "is truncated", str(wav)


CORPUS_DAMAGE = {
    "voxceleb-split-file-lists-a-file-in-train-and-test": _sid_split_twice,
    "truncated-wav-read-by-prepare": _truncated_wav,
}


@pytest.mark.parametrize("damage", list(CORPUS_DAMAGE))
def test_damaged_corpus_read_by_prepare(damage, workflow, finished_run, outcome):
    """The SID task is added to the finished run; its corpus is damaged."""
    expected = finished_run.configure(workflow, config_with(sid=True))
    assert job("prepare", task="sid") in expected
    corpus = f"{RESULTS}/data/corpus/demo/VoxCeleb1"
    pristine_corpus = finished_run.pristine / corpus
    problem, where = CORPUS_DAMAGE[damage](workflow)
    before = snapshot(workflow.root)

    run = workflow.run()

    assert run.returncode != 0
    message = clear_error(job_log(workflow, "data/prepare/sid.log"), "prepare")
    assert problem in message and where in message, message
    outcome["reported"] = excerpt(message)
    outcome["lost"] = compare(before, snapshot(workflow.root)).unexpected()
    assert outcome["lost"] == []
    assert not workflow.path(f"{RESULTS}/data/sid/manifest").exists()

    shutil.rmtree(workflow.path(corpus))  # the corpus restored
    shutil.copytree(pristine_corpus, workflow.path(corpus))
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected


def test_truncated_flac_read_by_prepare(workflow, finished_run, outcome):
    """The ASR data stage is redone (`--forcerun prepare`) on a corpus with a cut FLAC."""
    flac = extracted_flac(workflow)
    pristine_flac = finished_run.pristine / flac.relative_to(workflow.root)
    cut(flac, flac.stat().st_size // 2)
    before = snapshot(workflow.root)

    run = workflow.run(f"{ASR_DATA}/manifest/train.jsonl", "--forcerun", "prepare")

    assert run.returncode != 0
    message = clear_error(job_log(workflow, "data/prepare/asr.log"), "prepare")
    assert str(flac) in message and "truncated" in message, message
    outcome["reported"] = excerpt(message)
    # The forced job's manifests are removed by Snakemake; the fix below writes them again.
    outcome["lost"] = compare(before, snapshot(workflow.root)).unexpected(allowed=(f"{ASR_DATA}/manifest/",))
    assert outcome["lost"] == []

    shutil.copy2(pristine_flac, flac)
    fixed = workflow.run(*REWRITE_DATA)
    assert fixed.returncode == 0, fixed.output[-3000:]
    assert unlike_pristine(finished_run, workflow) == []
    # Nothing to redo, and a new model plans only its own jobs (the rewritten manifests are the
    # same bytes: their consumers are not rerun).
    assert workflow.plan() == set()
    new_model = config_with(new_model=True)
    outcome["rerun"] = [f"data stage ({len(fixed.finished_jobs)} jobs)", *sorted(workflow.plan(new_model))]
    assert workflow.plan(new_model) == finished_run.plan(new_model)


def test_truncated_flac_read_by_extraction(workflow, finished_run, outcome):
    """A FLAC is cut after the manifests were written; a new model's extraction reads it."""
    expected = finished_run.configure(workflow, config_with(new_model=True))
    flac = extracted_flac(workflow)
    pristine_flac = finished_run.pristine / flac.relative_to(workflow.root)
    cut(flac, flac.stat().st_size // 2)
    before = snapshot(workflow.root)
    store, summary = feature_paths("mel")

    run = workflow.run(summary)

    assert run.returncode != 0
    message = clear_error(job_log(workflow, extract_log("mel")), "extract")
    assert str(flac) in message and "restore it" in message, message
    outcome["reported"] = excerpt(message)
    outcome["lost"] = compare(before, snapshot(workflow.root)).unexpected()
    assert outcome["lost"] == []
    assert not workflow.path(store).exists() and not workflow.path(summary).exists()

    shutil.copy2(pristine_flac, flac)
    outcome["rerun"] = sorted(workflow.plan())
    assert set(outcome["rerun"]) == expected


# --- the data stage's own files ----------------------------------------------------------------


def _manifest_cut_mid_line(workflow):
    path = workflow.path(f"{ASR_DATA}/manifest/train.jsonl")
    cut(path, path.stat().st_size - 40)
    # Its first consumer: every other job that reads it waits for the subset lists.
    return path, {"data/subsample/asr/paper/seed42.log": "subsample"}, (f"{ASR_DATA}/subsets/paper/",)


def _subset_list_cut(keep_bytes):
    """A subset list cut to `keep_bytes(its lines)`; its first consumer is its folder's check
    (every job that reads the lists waits for it), which must refuse it."""
    def damage(workflow):
        path = workflow.path(f"{ASR_DATA}/subsets/paper/seed42/train.txt")
        cut(path, keep_bytes(path.read_text().splitlines(keepends=True)))
        return path, {"data/check_subset/asr/paper/seed42.log": "check-subset"}, (f"{ASR_DATA}/subsets/paper/seed42/checked.json",)
    return damage


DATA_DAMAGE = {
    "manifest-cut-mid-line": _manifest_cut_mid_line,
    "subset-list-cut-mid-line": _subset_list_cut(lambda lines: sum(map(len, lines)) - 5),
    # A shorter list that is still valid: only the record subsample writes beside it tells.
    "subset-list-cut-at-a-line-end": _subset_list_cut(lambda lines: sum(map(len, lines[: len(lines) // 2]))),
}


@pytest.mark.parametrize("damage", DATA_DAMAGE)
def test_damaged_data_stage_file(damage, workflow, finished_run, outcome):
    """The file changed, so Snakemake reruns its consumers; each one that runs must refuse it."""
    path, consumers, failed_outputs = DATA_DAMAGE[damage](workflow)
    relative = path.relative_to(workflow.root).as_posix()
    before = snapshot(workflow.root)

    run = workflow.run()

    assert run.returncode != 0
    after = snapshot(workflow.root)
    ran = {log: command for log, command in consumers.items()
           if before.get(f"{RESULTS}/logs/{log}") != after.get(f"{RESULTS}/logs/{log}")}
    assert ran, f"none of {sorted(consumers)} ran:\n{run.output[-3000:]}"
    messages = [clear_error(job_log(workflow, log), command) for log, command in ran.items()]
    for message in messages:
        assert relative in message and "snakemake data --forcerun prepare" in message, message
    outcome["reported"] = excerpt(messages[0])
    # The consumers that failed had their outputs removed by Snakemake (it was rerunning them).
    difference = compare(before, after)
    outcome["lost"] = difference.unexpected(allowed=(relative, *failed_outputs, f"{ASR_DATA}/stats.json"))
    assert outcome["lost"] == []
    for model in CONFIG["models"]:  # no feature store or head was made from the damaged file
        assert not any(p.startswith((feature_paths(model)[0], train_dir(model)))
                       for p in difference.changed + difference.removed + difference.added)

    fixed = workflow.run(*REWRITE_DATA)  # the fix the message gives
    assert fixed.returncode == 0, fixed.output[-3000:]
    assert unlike_pristine(finished_run, workflow) == []
    outcome["rerun"] = [f"`snakemake data --forcerun prepare`: {len(fixed.finished_jobs)} data jobs",
                        *sorted(workflow.plan())]
    assert workflow.plan() == set()
