"""Feature views: a new subset's store copies what the other views of its model and task hold,
and extracts only the rest (minisuperb.store.reuse).

The first tests call `extract` on small corpora; the last one runs the reduced demo workflow
for real, then adds a fraction and a sampling seed and counts what is extracted and scheduled.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minisuperb.corpora.manifest import write_subset
from minisuperb.store import FeatureStore
from minisuperb.upstreams.extract import extract
from reduced_demo import reduced_demo
from snakemake_api import dry_run, run
from test_extract import write_task

ENTRY = {"loader": "entry_point", "entry_point": "minisuperb.upstreams.example_entry_point:build"}
LENGTHS = {"train": [4000, 16000, 7200, 12345, 9000, 8000], "dev": [5000, 8000], "test": [6400, 11111]}


def view(tmp_path: Path, name: str) -> Path:
    return tmp_path / "features" / "m" / "asr" / name / "seed1.zarr"


def subset(tmp_path: Path, name: str, train: list[int]) -> Path:
    """A subset folder of the task in `tmp_path/data`: the given train utterances, all of dev and test."""
    ids = {"train": [f"train-{i:03d}" for i in train], "dev": ["dev-000", "dev-001"], "test": ["test-000", "test-001"]}
    write_subset(ids, tmp_path / "data" / "subsets" / name)
    return tmp_path / "data" / "subsets" / name


def extract_view(tmp_path: Path, name: str, train: list[int], entry: dict = ENTRY,
                 batch_seconds: float | None = None) -> dict:
    out = view(tmp_path, name)
    return extract("m", entry, "asr", tmp_path / "data" / "manifest", subset(tmp_path, name, train), out,
                   out.with_suffix(".json"), batch_seconds=batch_seconds, device="cpu")


@pytest.fixture
def corpus(tmp_path):
    write_task(tmp_path / "data", LENGTHS)
    return tmp_path


def features(store_path: Path) -> dict[tuple[str, str], np.ndarray]:
    store = FeatureStore.open(store_path)
    return {(split, utt): store.get(split, utt) for split in store.splits for utt in store.ids(split)}


# The second view's job in a fresh process: does it import torch (and so load a model)?
COPY_ONLY_JOB = """
import json, sys
from minisuperb.upstreams.extract import extract
manifest_dir, subset_dir, out, entry = sys.argv[1:]
summary = extract("m", json.loads(entry), "asr", manifest_dir, subset_dir, out, out[:-5] + ".json", device="cpu")
print(json.dumps({"summary": summary, "torch_imported": "torch" in sys.modules}))
"""


def test_a_view_inside_another_copies_everything_and_loads_no_model(corpus):
    first = extract_view(corpus, "frac0.5", [0, 1, 2, 3])
    assert first["extracted_utterances"] == 8 and first["copied_utterances"] == 0
    done = subprocess.run([sys.executable, "-c", COPY_ONLY_JOB, str(corpus / "data" / "manifest"),
                           str(subset(corpus, "frac0.2", [1, 3])), str(view(corpus, "frac0.2")), json.dumps(ENTRY)],
                          capture_output=True, text=True, check=True)
    job = json.loads(done.stdout.splitlines()[-1])
    assert not job["torch_imported"]  # neither torch nor the model: the job only copies
    second = job["summary"]
    assert second["extracted_utterances"] == 0 and second["extracted_audio_seconds"] == 0
    assert second["copied_utterances"] == 6
    assert second["macs_per_second"] > 0 and second["view_extraction_s"] > 0
    larger, smaller = features(view(corpus, "frac0.5")), features(view(corpus, "frac0.2"))
    assert set(smaller) == {("train", "train-001"), ("train", "train-003"), *((s, f"{s}-00{i}") for s in ("dev", "test") for i in (0, 1))}
    for key, values in smaller.items():
        np.testing.assert_array_equal(values, larger[key])  # float16 copied exactly
    assert FeatureStore.open(view(corpus, "frac0.2")).attrs["store_id"] != FeatureStore.open(view(corpus, "frac0.5")).attrs["store_id"]


def test_only_what_no_view_holds_is_extracted_and_equals_a_fresh_extraction(corpus, tmp_path_factory):
    extract_view(corpus, "frac0.5", [0, 1, 2])
    grown = extract_view(corpus, "seed2", [2, 3, 4])
    assert grown["extracted_utterances"] == 2 and grown["copied_utterances"] == 5
    assert grown["extracted_audio_seconds"] == pytest.approx((12345 + 9000) / 16000)

    fresh_root = tmp_path_factory.mktemp("fresh")
    write_task(fresh_root / "data", LENGTHS)
    fresh = extract_view(fresh_root, "seed2", [2, 3, 4])
    assert fresh["extracted_utterances"] == 7
    # The same features, bit for bit, whichever view computed them: on a CPU each utterance runs
    # alone, so the order the views ran in cannot change a metric.
    got, expected = features(view(corpus, "seed2")), features(view(fresh_root, "seed2"))
    assert set(got) == set(expected)
    for key in got:
        np.testing.assert_array_equal(got[key], expected[key])


GE2E = {"loader": "pretrained", "name": "ge2e", "reference": None}  # real weights, from resemblyzer's wheel


def differing_utterances(tmp_path_factory, batch_seconds: float | None) -> int:
    """How many utterances of view `seed2` differ at all between a run that extracted view
    `frac0.5` first (so `seed2` copies one utterance and batches the rest without it) and a run
    that extracted `seed2` alone: GE2E's LSTM rounds differently in different batches."""
    stores = []
    for order in (["frac0.5", "seed2"], ["seed2"]):
        root = tmp_path_factory.mktemp("order")
        write_task(root / "data", LENGTHS)
        for name in order:
            extract_view(root, name, {"frac0.5": [0, 1, 2], "seed2": [2, 3, 4]}[name], GE2E, batch_seconds)
        stores.append(features(view(root, "seed2")))
    return sum(not np.array_equal(stores[0][key], stores[1][key]) for key in stores[0])


def test_an_utterance_has_the_same_features_whichever_view_extracted_it(tmp_path_factory):
    # The CPU default, one utterance at a time: the order the views ran in changes no bit, so two
    # runs of one config give the same metrics. Batched (as on a GPU), 5 of the 7 differed.
    assert differing_utterances(tmp_path_factory, None) == 0
    assert differing_utterances(tmp_path_factory, 16.0) > 0, "batches no longer change GE2E: this test lost its power"


def test_other_audio_under_the_same_id_is_extracted_again(corpus):
    extract_view(corpus, "frac0.5", [0, 1])
    manifest = corpus / "data" / "manifest" / "train.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    records[0]["num_samples"] -= 160  # the file was replaced: another length
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    again = extract_view(corpus, "frac0.2", [0, 1])
    assert again["extracted_utterances"] == 1 and again["copied_utterances"] == 5


def test_views_of_another_model_version_or_damaged_lend_nothing(corpus):
    extract_view(corpus, "frac0.5", [0, 1], entry={**ENTRY, "precision": "bfloat16"})  # another model hash
    assert extract_view(corpus, "frac0.2", [0, 1])["copied_utterances"] == 0

    store = Path(os.path.realpath(view(corpus, "frac0.2")))
    next(store.glob("train/features/c/*/*/*")).unlink()  # damaged: a shard is gone
    result = extract_view(corpus, "k1", [0, 1])
    assert result["copied_utterances"] == 0 and result["extracted_utterances"] == 6


# --- the workflow -------------------------------------------------------------------------------

# The reduced demo with heads of a few steps: a real run of every job in about a minute.
CONFIG = {
    **reduced_demo(),
    "extraction": {"device": "cpu", "threads": 1},
    "downstream": {"threads": 1, "device": "cpu", "workers": 0},
    "protocols": {"demo": {"asr": {"steps": 4, "eval_every": 4, "checkpoint_every": 4, "batch_size": 4}}},
    "report": {"mini_run": {"protocol": "demo", "sampling": "paper"}, "points": "config", "metrics": ["ASR_cer"],
               "reference_points": {"ASR_cer": {"fbank": 100.0, "sota": 0.0}}, "bootstrap": 20},
}


def summaries(workdir: Path) -> dict[str, dict]:
    root = workdir / "results" / "features"
    return {str(path.relative_to(root)): json.loads(path.read_text()) for path in root.glob("*/*/*/*.json")}


def planned(jobs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return counts


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("views")
    run(workdir, CONFIG)
    return workdir


def test_adding_a_fraction_extracts_nothing_and_keeps_every_finished_job(finished):
    before = {path: path.stat().st_mtime_ns for path in (finished / "results").rglob("*") if path.is_file()}
    config = copy.deepcopy(CONFIG)
    config["runs"].append({"protocol": "demo", "sampling": "frac0.2"})

    jobs = dry_run(finished, config)
    # New: the subset lists and their check, the stats, one view and one head per model, the report.
    assert planned(jobs) == {"subsample": 1, "check_subset": 1, "subset_stats": 1, "extract": 2, "train": 2, "collect": 1,
                             "report": 1, "all": 1}
    assert {job.wildcards.get("sampling") for job in jobs if job.rule in ("extract", "train")} == {"frac0.2"}

    run(finished, config)
    new_views = {name: summary for name, summary in summaries(finished).items() if "frac0.2" in name}
    assert sorted(new_views) == ["fbank/asr/frac0.2/seed42.json", "mfcc/asr/frac0.2/seed42.json"]
    assert all(summary["extracted_audio_seconds"] == 0 for summary in new_views.values())
    # No finished view or head was touched (the stats, the aggregation and the report are rewritten).
    rewritten = [path for path in before if path.stat().st_mtime_ns != before[path]]
    assert not [path for path in rewritten if {"downstream", "features"} & set(path.parts)], rewritten


def test_adding_a_sampling_seed_extracts_only_new_utterances(finished):
    config = copy.deepcopy(CONFIG)
    config["sampling"]["seeds"] = [42, 7]
    run(finished, config)
    stats = json.loads((finished / "results" / "data" / "asr" / "stats.json").read_text())
    new_train = set(read_ids(finished, "seed7")) - set(read_ids(finished, "seed42"))
    seeds = {name: s for name, s in summaries(finished).items() if name.endswith("paper/seed7.json")}
    assert len(seeds) == 2
    for summary in seeds.values():
        # dev and test are the same in every view of the task: only the new train utterances are extracted
        assert summary["extracted_utterances"] == len(new_train) > 0
    assert stats["subsets"]["paper/seed7"]["train"]["utterances"] == len(read_ids(finished, "seed7"))


def read_ids(workdir: Path, seed: str) -> list[str]:
    return (workdir / "results" / "data" / "asr" / "subsets" / "paper" / seed / "train.txt").read_text().split()
