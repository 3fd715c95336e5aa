"""A model entry's `storage` (float16 by default, or uint8): validated by the schema, part of the
model hash, passed by the extraction job to the store, per task too."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from minisuperb.config import validate_section
from minisuperb.corpora import audio
from minisuperb.errors import MinisuperbError
from minisuperb.store import FeatureStore
from minisuperb.upstreams import load_upstream, model_hash
from minisuperb.upstreams.demo_models import build_demo_model
from minisuperb.upstreams.extract import extract
from minisuperb.upstreams.registry import feature_settings, task_entry
from test_extract import write_task

LENGTHS = {"train": [4000, 16000, 7200, 12345], "dev": [5000], "test": [6400, 20000]}


@pytest.fixture(scope="module")
def hubert_entry(tmp_path_factory):
    path = build_demo_model("hubert", tmp_path_factory.mktemp("models") / "hubert", seed=0, layers=2, dim=64)
    return {"loader": "transformers", "path": str(path), "reference": None}


def run_extract(tmp_path, entry, task="asr"):
    manifest_dir, subsets = write_task(tmp_path / "data", LENGTHS)
    out = tmp_path / "features" / "m" / task / "paper" / "seed1.zarr"
    summary = extract("m", entry, task, manifest_dir, subsets, out, out.with_suffix(".json"), batch_seconds=2.0,
                      device="cpu")
    return summary, out, manifest_dir


def alone(upstream, path) -> np.ndarray:
    wav = torch.from_numpy(audio.load(path))[None]
    with torch.inference_mode():
        layers, frames = upstream(wav, torch.tensor([wav.shape[1]]))
    return torch.stack(layers, dim=2)[0, : frames[0]].numpy()


@pytest.mark.parametrize("task", ["asr", "sid"])
def test_uint8_storage_goes_from_the_entry_to_the_store(tmp_path, hubert_entry, task):
    entry = {**hubert_entry, "storage": "uint8"}
    summary, out, manifest_dir = run_extract(tmp_path, entry, task)
    assert (summary["dtype"], summary["pooled"]) == ("uint8", task == "sid")
    assert model_hash(entry) != model_hash(hubert_entry)  # changing the storage reruns extraction
    store = FeatureStore.open(out, model_hash=model_hash(entry))
    upstream = load_upstream(hubert_entry)
    for manifest in sorted(manifest_dir.glob("*.jsonl")):
        split = manifest.stem
        expected = {}
        for record in map(json.loads, manifest.read_text().splitlines()):
            features = alone(upstream, record["path"])
            expected[record["id"]] = features.mean(axis=0, keepdims=True) if task == "sid" else features
        # Each value is within 1/510 of its channel's range over its shard of frames, at most
        # the range over the split (the job writes in length order, not manifest order); plus
        # what batching moves (~1e-6).
        bound = np.ptp(np.concatenate(list(expected.values())), axis=0) / 510 * 1.001 + 1e-4
        for utt_id, features in expected.items():
            got = store.get(split, utt_id)
            assert got.dtype == np.float32 and got.shape == features.shape
            assert np.all(np.abs(got - features) <= bound), (split, utt_id)


def test_unknown_storage_is_named(tmp_path, hubert_entry):
    with pytest.raises(MinisuperbError, match=r"storage 'int8' is not one of \['float16', 'uint8'\]"):
        run_extract(tmp_path, {**hubert_entry, "storage": "int8"})
    assert not (tmp_path / "features" / "asr.zarr").exists()


def test_the_schema_takes_storage_per_model_and_per_task():
    models = {"fbank": {"loader": "s3prl", "name": "fbank", "storage": "uint8",
                        "tasks": {"se": {"storage": "float16"}}}}
    validated = validate_section(models, ("models",))
    assert validated == models  # no default filled in: an entry without `storage` keeps its hash
    assert "storage" not in validate_section({"f": {"loader": "s3prl", "name": "fbank"}}, ("models",))["f"]
    entry = validated["fbank"]
    asr, se = task_entry(entry, "asr"), task_entry(entry, "se")
    assert (asr["storage"], se["storage"]) == ("uint8", "float16")
    assert feature_settings(asr)["storage"] == "uint8"
    assert model_hash(asr) != model_hash(se)
    with pytest.raises(MinisuperbError, match="storage"):
        validate_section({"fbank": {"loader": "s3prl", "name": "fbank", "storage": "int8"}}, ("models",))
    with pytest.raises(MinisuperbError, match="storage"):
        validate_section({"fbank": {"loader": "s3prl", "name": "fbank", "tasks": {"sid": {"storage": "int4"}}}},
                         ("models",))
