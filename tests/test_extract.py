"""`minisuperb extract`: length-bucketed batches into a feature store, equal to one-at-a-time
extraction; padding-dependent models fall back; SID pooled; SE reads the noisy audio; bad input
(unknown model, short audio, full disk, bad id list); `kill -9` then a rerun."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from minisuperb.catalog import SPLITS
from minisuperb.cli import main
from minisuperb.corpora.manifest import write_subset
from minisuperb.corpora import audio
from minisuperb.errors import MinisuperbError
from minisuperb.store import FeatureStore
from minisuperb.upstreams import load_upstream, model_hash
from minisuperb.upstreams.demo_models import build_demo_model
from minisuperb.upstreams.extract import Utterance, extract
from minisuperb.upstreams.runner import OneDnnLinear, plan_batches, use_onednn_linears

REPO = Path(__file__).resolve().parents[1]
FLOAT16_TOLERANCE = {"atol": 2e-3, "rtol": 2e-3}
# bfloat16 autocast vs float32, per layer: relative (Frobenius) error bound, as in BENCHMARKS.md.
BFLOAT16_RELATIVE_ERROR = 5e-2
# A model whose output for an utterance depends on the padding next to it (a batch-wide RMS).
PADDING_DEPENDENT_MODULE = '''
import torch

class BatchMean(torch.nn.Module):
    frame_rate = 100.0
    min_samples = 160

    def forward(self, wavs, lengths):
        frames = wavs[:, : wavs.shape[1] // 160 * 160].reshape(len(wavs), -1, 160)
        scale = frames.pow(2).mean().sqrt()  # over the whole padded batch
        return [frames / scale, frames.abs() / scale]

    def frame_lengths(self, lengths):
        return lengths // 160

def build():
    return BatchMean()
'''
# The example model, slowed down, so that a kill lands mid-extraction.
SLOW_MODULE = '''
import time
from minisuperb.upstreams.example_entry_point import LogMelLayers

class Slow(LogMelLayers):
    def forward(self, wavs, lengths):
        time.sleep(0.3)
        return super().forward(wavs, lengths)

def build():
    return Slow(16)
'''


@pytest.fixture(scope="module")
def hubert_entry(tmp_path_factory):
    path = build_demo_model("hubert", tmp_path_factory.mktemp("models") / "hubert", seed=0, layers=2, dim=64)
    return {"loader": "transformers", "path": str(path), "reference": None}


def write_task(root: Path, lengths_by_split: dict[str, list[int]], clean_copies: bool = False) -> tuple[Path, Path]:
    """Manifests `<root>/manifest/<split>.jsonl` and subset lists `<root>/subsets/` of every
    utterance, like the data stage; returns both folders."""
    rng = np.random.default_rng(len(root.name))
    ids = {split: [] for split in SPLITS}
    for split, lengths in lengths_by_split.items():
        records = []
        for index, length in enumerate(lengths):
            utt_id = f"{split}-{index:03d}"
            path = root / "wav" / f"{utt_id}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, (0.1 * rng.standard_normal(length)).astype(np.float32), 16000)
            record = {"id": utt_id, "path": str(path), "num_samples": length, "sample_rate": 16000, "speaker": "s1"}
            if clean_copies:  # SE: `path` is the noisy file, `clean_path` another signal
                clean = root / "clean" / f"{utt_id}.wav"
                clean.parent.mkdir(parents=True, exist_ok=True)
                sf.write(clean, (0.1 * rng.standard_normal(length)).astype(np.float32), 16000)
                record["clean_path"] = str(clean)
            records.append(record)
            ids[split].append(utt_id)
        manifest = root / "manifest" / f"{split}.jsonl"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    write_subset(ids, root / "subsets")
    return root / "manifest", root / "subsets"


LENGTHS = {"train": [4000, 16000, 7200, 12345, 9000, 30000], "dev": [5000, 8000], "test": [6400, 20000, 11111]}


def one_at_a_time(upstream, path):
    wav = torch.from_numpy(audio.load(path))[None]
    with torch.inference_mode():
        layers, frames = upstream(wav, torch.tensor([wav.shape[1]]))
    return torch.stack(layers, dim=2)[0, : frames[0]].numpy()


def run_extract(tmp_path, entry, task="asr", lengths=LENGTHS, batch_seconds=2.0, **kwargs):
    manifest_dir, subsets = write_task(tmp_path / "data", lengths, **kwargs)
    out = tmp_path / "features" / "m" / task / "paper" / "seed1.zarr"  # a view, as the workflow writes it
    summary = out.with_suffix(".json")
    result = extract("m", entry, task, manifest_dir, subsets, out, summary, batch_seconds=batch_seconds, device="cpu")
    return result, out, summary, manifest_dir


def manifest_records(manifest_dir):
    return [json.loads(line) for f in sorted(manifest_dir.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_plan_batches_sorts_by_length_and_keeps_padding_under_budget():
    utterances = [Utterance("train", f"u{i}", "", n) for i, n in enumerate([8000, 800, 64000, 16000, 1600, 16000, 200000])]
    batches = plan_batches(utterances, batch_seconds=2.0)
    flat = [u for batch in batches for u in batch]
    assert sorted(u.utt_id for u in flat) == sorted(u.utt_id for u in utterances)
    assert [u.num_samples for u in flat] == sorted(u.num_samples for u in utterances)
    for batch in batches:  # padded size within 2 s, unless one utterance alone is longer
        assert len(batch) * max(u.num_samples for u in batch) <= 32000 or len(batch) == 1
    assert [len(b) for b in batches] == [3, 2, 1, 1]  # 16000 x 2 fills 2 s exactly


def test_store_equals_one_at_a_time_extraction(tmp_path, hubert_entry):
    summary, out, summary_path, manifest_dir = run_extract(tmp_path, hubert_entry)
    store = FeatureStore.open(out, model_hash=model_hash(hubert_entry))
    attrs = store.attrs
    assert (attrs["model"], attrs["num_layers"], attrs["dim"], attrs["frame_rate"]) == ("m", 3, 64, 50.0)
    assert summary["batching"] == "length_bucketed" and summary["padding_probe_difference"] < 1e-3
    assert summary["macs_per_second"] > 0 and summary["macs_per_second_thop"] > 0
    assert summary["bytes_on_disk"] > 0 and summary["audio_seconds_per_second"] > 0
    assert summary["audio_seconds"] == pytest.approx(sum(map(sum, LENGTHS.values())) / 16000)
    assert json.loads(summary_path.read_text()) == summary
    upstream = load_upstream(hubert_entry)
    for record in manifest_records(manifest_dir):
        split = record["id"].split("-")[0]
        assert store.num_frames(split, record["id"]) == (record["num_samples"] - 400) // 320 + 1
        expected = one_at_a_time(upstream, record["path"])
        np.testing.assert_allclose(store.get(split, record["id"]), expected, **FLOAT16_TOLERANCE)


def test_bfloat16_store_is_within_its_error_bound_of_float32(tmp_path, hubert_entry):
    entry = {**hubert_entry, "precision": "bfloat16"}
    summary, out, _, manifest_dir = run_extract(tmp_path, entry)
    assert summary["precision"] == "bfloat16" and summary["batching"] == "length_bucketed"
    assert model_hash(entry) != model_hash(hubert_entry)  # changing the precision reruns extraction
    store, upstream = FeatureStore.open(out, model_hash=model_hash(entry)), load_upstream(hubert_entry)
    errors = []
    for record in manifest_records(manifest_dir):
        expected = one_at_a_time(upstream, record["path"])  # float32, torch's stock kernels
        got = store.get(record["id"].split("-")[0], record["id"]).astype(np.float32)
        errors += [np.linalg.norm(got[:, i] - expected[:, i]) / np.linalg.norm(expected[:, i]) for i in range(got.shape[1])]
    assert 1e-3 < max(errors) < BFLOAT16_RELATIVE_ERROR  # above float16 rounding: bfloat16 really ran


def test_unknown_precision_is_named(tmp_path, hubert_entry):
    with pytest.raises(MinisuperbError, match=r"precision 'float16' is not one of \['float32', 'bfloat16'\]"):
        run_extract(tmp_path, {**hubert_entry, "precision": "float16"})


def test_onednn_linears_keep_parameters_and_outputs():
    torch.manual_seed(0)

    class Custom(torch.nn.Linear):
        pass

    model = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.GELU(), Custom(1024, 256))
    x = torch.randn(3, 50, 256)  # 3 x 50 x 256 x 1024 MACs: over ONEDNN_MIN_MACS
    weight = model[0].weight
    with torch.inference_mode():
        expected = model(x)
        use_onednn_linears(model)
        if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
            assert type(model[0]) is OneDnnLinear
        assert type(model[2]) is Custom and model[0].weight is weight
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model(x.transpose(0, 1)), expected.transpose(0, 1), atol=1e-5, rtol=1e-5)


def test_sid_store_holds_per_layer_time_averages(tmp_path, hubert_entry):
    lengths = {"train": [8000, 12000], "test": [9000]}
    _, out, _, manifest_dir = run_extract(tmp_path, hubert_entry, task="sid", lengths=lengths)
    store = FeatureStore.open(out)
    assert store.attrs["pooled"]
    upstream = load_upstream(hubert_entry)
    for record in manifest_records(manifest_dir):
        split = record["id"].split("-")[0]
        expected = one_at_a_time(upstream, record["path"]).mean(axis=0, keepdims=True)
        np.testing.assert_allclose(store.get(split, record["id"]), expected, **FLOAT16_TOLERANCE)


def test_se_features_come_from_the_noisy_audio(tmp_path):
    entry = {"loader": "entry_point", "entry_point": "minisuperb.upstreams.example_entry_point:build"}
    _, out, _, manifest_dir = run_extract(tmp_path, entry, task="se", lengths={"test": [8000, 9600]}, clean_copies=True)
    store, upstream = FeatureStore.open(out), load_upstream(entry)
    for record in manifest_records(manifest_dir):
        np.testing.assert_allclose(store.get("test", record["id"]), one_at_a_time(upstream, record["path"]), **FLOAT16_TOLERANCE)


def test_padding_dependent_model_falls_back_to_one_at_a_time(tmp_path, monkeypatch, caplog):
    (tmp_path / "padding_dependent.py").write_text(PADDING_DEPENDENT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = {"loader": "entry_point", "entry_point": "padding_dependent:build"}
    summary, out, _, manifest_dir = run_extract(tmp_path, entry, lengths={"train": [4000, 4800, 16000, 16800]})
    assert summary["batching"] == "one_at_a_time" and summary["padding_probe_difference"] > 1e-3
    assert "padding changes this model's features" in caplog.text
    store, upstream = FeatureStore.open(out), load_upstream(entry)
    for record in manifest_records(manifest_dir):
        np.testing.assert_allclose(store.get("train", record["id"]), one_at_a_time(upstream, record["path"]), **FLOAT16_TOLERANCE)


def test_audio_shorter_than_the_receptive_field_is_named(tmp_path, hubert_entry):
    with pytest.raises(MinisuperbError, match=r"receptive field of 400 samples.*first: train/train-001 .* with 399 samples"):
        run_extract(tmp_path, hubert_entry, lengths={"train": [8000, 399]})
    assert not list((tmp_path / "features").rglob("*.zarr"))


def test_disk_full_while_writing_is_reported_and_nothing_is_published(tmp_path, hubert_entry, monkeypatch):
    import zarr.storage

    real_set = zarr.storage.LocalStore.set

    async def full_for_chunks(self, key, value):
        if "/c/" in key:  # metadata fits, feature chunks do not
            raise OSError(errno.ENOSPC, "No space left on device", key)
        await real_set(self, key, value)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", full_for_chunks)
    with pytest.raises(MinisuperbError, match=r"disk is full"):
        run_extract(tmp_path, hubert_entry, lengths={"train": [8000, 9000]})
    view = tmp_path / "features" / "m" / "asr" / "paper"
    assert [path.name for path in view.iterdir()] == []  # the partial store was removed, no summary written


def test_a_damaged_subset_list_is_refused_by_name(tmp_path, hubert_entry):
    manifest_dir, subsets = write_task(tmp_path / "data", {"train": [8000, 9000]})
    (subsets / "train.txt").write_text("train-000\n")  # cut at a line end: still a valid list
    with pytest.raises(MinisuperbError, match=r"train.txt is damaged: it lists 1 ids, but `subsample` wrote 2"):
        extract("m", hubert_entry, "asr", manifest_dir, subsets, tmp_path / "o.zarr", tmp_path / "o.json")


def cli_args(tmp_path, entry, manifest_dir, subsets):
    return ["extract", "--model", "m", "--model-settings", json.dumps(entry), "--task", "asr",
            "--manifest-dir", str(manifest_dir), "--subset-dir", str(subsets), "--out", str(tmp_path / "f" / "asr.zarr"),
            "--summary", str(tmp_path / "f" / "asr.json"), "--threads", "1", "--batch-seconds", "0.5",
            "--device", "cpu"]


def test_cli_unknown_model_exits_2_with_close_matches(tmp_path, capsys):
    manifest_dir, ids = write_task(tmp_path / "data", {"train": [8000]})
    assert main(cli_args(tmp_path, {"loader": "s3prl", "name": "wavlm_bas_plus"}, manifest_dir, ids)) == 2
    error = capsys.readouterr().err
    assert "unknown s3prl upstream name 'wavlm_bas_plus'" in error and "wavlm_base_plus" in error


def test_kill_9_during_extraction_then_rerun(tmp_path):
    (tmp_path / "slow_model.py").write_text(SLOW_MODULE)
    entry = {"loader": "entry_point", "entry_point": "slow_model:build"}
    manifest_dir, ids = write_task(tmp_path / "data", {"train": [8000 + 160 * i for i in range(12)]})
    command = [sys.executable, "-m", "minisuperb.cli", *cli_args(tmp_path, entry, manifest_dir, ids)]
    environment = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    store, summary = tmp_path / "f" / "asr.zarr", tmp_path / "f" / "asr.json"

    process = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(store.parent.glob("asr.zarr.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # a few batches in
    assert process.poll() is None, "the extraction finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert list(store.parent.glob("asr.zarr.tmp-*")), "the kill should leave a partial temporary store"
    assert not store.exists() and not summary.exists()
    with pytest.raises(MinisuperbError):
        FeatureStore.open(store)

    rerun = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(store.parent.glob("asr.zarr.tmp-*"))
    opened = FeatureStore.open(store, model_hash=model_hash(entry))
    assert len(opened.ids("train")) == 12
    assert json.loads(summary.read_text())["utterances"] == 12
