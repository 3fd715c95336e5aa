"""The Zarr feature store: round trip, publication, refusal of wrong stores, kill -9, disk full."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import zarr.storage._local

from minisuperb.store import FeatureStore, StoreError, StoreWriter
from minisuperb.store.layout import MARKER, SHARD_FRAMES, bytes_on_disk

LAYERS, DIM = 3, 8
# float16 keeps 11 significant bits: round-to-nearest is within 2^-11 relative (normal range),
# and within half the smallest subnormal step (2^-25) near zero.
FLOAT16_RELATIVE, FLOAT16_ABSOLUTE = 2.0**-11, 2.0**-25


def make_utterances(count: int, seed: int = 0, max_frames: int = 400) -> dict[str, np.ndarray]:
    """Features with per-layer scales spanning float16's range, to exercise the error bound."""
    rng = np.random.default_rng(seed)
    scales = np.array([1e-3, 1.0, 300.0])[:, None]
    return {
        f"utt{i:03d}": (rng.standard_normal((int(rng.integers(1, max_frames)), LAYERS, DIM))
                        * scales).astype(np.float32)
        for i in range(count)
    }


def write_store(path, splits: dict[str, dict[str, np.ndarray]], model_hash="hash-a",
                pooled=False, **kwargs) -> dict:
    with StoreWriter(path, "tiny_hubert", model_hash, LAYERS, DIM, 50.0, pooled=pooled,
                     **kwargs) as writer:
        for split, utterances in splits.items():
            for utt_id, features in utterances.items():
                writer.add(split, utt_id, features)
        return writer.close({"wall_time_s": 1.5, "macs_per_audio_second": 123})


def assert_float16_close(actual: np.ndarray, expected: np.ndarray) -> None:
    bound = FLOAT16_RELATIVE * np.abs(expected) + FLOAT16_ABSOLUTE
    assert actual.dtype == np.float32
    assert np.all(np.abs(actual - expected) <= bound)


def test_round_trip_within_float16_error_bound(tmp_path):
    train, dev = make_utterances(12, seed=1), make_utterances(5, seed=2)
    assert sum(len(x) for x in train.values()) > 2 * SHARD_FRAMES  # spans whole and edge shards
    path = tmp_path / "features" / "tiny_hubert" / "asr.zarr"
    attrs = write_store(path, {"train": train, "dev": dev})

    store = FeatureStore.open(path, "hash-a")
    assert store.splits == ["train", "dev"]
    assert store.ids("train") == list(train)
    for utt_id, features in train.items():
        assert store.num_frames("train", utt_id) == len(features)
        assert_float16_close(store.get("train", utt_id), features)
    utt_id, features = next(iter(dev.items()))
    assert_float16_close(store.get("dev", utt_id, layers=[2, 0]), features[:, [2, 0]])
    assert store.attrs == attrs
    assert attrs["splits"]["train"] == {"utterances": 12,
                                        "frames": sum(len(x) for x in train.values())}
    assert (attrs["model"], attrs["dim"], attrs["num_layers"], attrs["dtype"]) == \
        ("tiny_hubert", DIM, LAYERS, "float16")
    assert attrs["macs_per_audio_second"] == 123
    assert 0 < bytes_on_disk(path) - attrs["bytes_on_disk"] < 10_000  # + attributes and marker
    assert not list(path.parent.glob("*.tmp-*"))


def test_pooled_store_keeps_the_time_average(tmp_path):
    utterances = make_utterances(4)
    path = tmp_path / "sid.zarr"
    write_store(path, {"test": utterances}, pooled=True)
    store = FeatureStore.open(path)
    assert store.attrs["pooled"] is True
    for utt_id, features in utterances.items():
        assert store.num_frames("test", utt_id) == 1
        assert_float16_close(store.get("test", utt_id), features.mean(axis=0, keepdims=True))


def test_same_input_gives_identical_files(tmp_path):
    utterances = make_utterances(6)
    for name in ("a.zarr", "b.zarr"):
        write_store(tmp_path / name, {"train": utterances})
    files_a = sorted(p.relative_to(tmp_path / "a.zarr") for p in (tmp_path / "a.zarr").rglob("*"))
    assert files_a
    for relative in files_a:
        if (tmp_path / "a.zarr" / relative).is_file():
            assert (tmp_path / "a.zarr" / relative).read_bytes() == \
                (tmp_path / "b.zarr" / relative).read_bytes()


def test_wrong_model_store_is_refused(tmp_path):
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(2)}, model_hash="hash-a")
    with pytest.raises(StoreError, match=r"tiny_hubert.*hash-a.*hash-b.*delete the folder"):
        FeatureStore.open(path, "hash-b")


def test_missing_and_unfinished_stores_are_refused(tmp_path):
    with pytest.raises(StoreError, match="no feature store at .*rerun snakemake"):
        FeatureStore.open(tmp_path / "absent.zarr")
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(2)})
    (path / MARKER).unlink()
    with pytest.raises(StoreError, match="incomplete"):
        FeatureStore.open(path)
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(StoreError, match="not a readable feature store"):
        FeatureStore.open(tmp_path / "junk.zarr")


def test_rerun_replaces_an_existing_store(tmp_path):
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(3, seed=1)}, model_hash="old")
    new = make_utterances(2, seed=2)
    write_store(path, {"train": new}, model_hash="new")
    store = FeatureStore.open(path, "new")
    assert store.ids("train") == list(new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["asr.zarr"]


def test_snakemake_timestamp_file_reads_quietly(tmp_path):
    path = tmp_path / "asr.zarr"
    utterances = make_utterances(2)
    write_store(path, {"train": utterances})
    (path / ".snakemake_timestamp").touch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = FeatureStore.open(path)
        store.get("train", "utt000")


KILLED_WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from minisuperb.store import StoreWriter
    path, ready = sys.argv[1], sys.argv[2]
    writer = StoreWriter(path, "tiny_hubert", "hash-a", 3, 8, 50.0)
    rng = np.random.default_rng(0)
    for i in range(20):  # > 2 shards, so whole shards are already on disk when killed
        writer.add("train", f"utt{i:03d}", rng.standard_normal((150, 3, 8)).astype(np.float32))
    open(ready, "w").close()
    time.sleep(120)  # killed here, before close()
""")


def test_kill_9_mid_extraction_leaves_nothing_valid_and_a_rerun_completes(tmp_path):
    path = tmp_path / "features" / "asr.zarr"
    ready = tmp_path / "ready"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(ready)])
    try:
        for _ in range(600):
            if ready.exists() or writer.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        assert ready.exists(), "the writer process did not get far enough"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    partial = list(path.parent.glob("asr.zarr.tmp-*"))
    assert len(partial) == 1 and bytes_on_disk(partial[0]) > 0
    assert not path.exists()
    with pytest.raises(StoreError, match="interrupted extraction"):
        FeatureStore.open(path)

    utterances = make_utterances(3)
    write_store(path, {"train": utterances})
    assert sorted(p.name for p in path.parent.iterdir()) == ["asr.zarr"]  # leftover removed
    assert FeatureStore.open(path, "hash-a").ids("train") == list(utterances)


def test_disk_full_removes_the_partial_store_and_says_so(tmp_path, monkeypatch):
    real_put = zarr.storage._local._put
    calls = []

    def put_until_full(path, value, exclusive=False):
        calls.append(path)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_put(path, value, exclusive)

    monkeypatch.setattr(zarr.storage._local, "_put", put_until_full)
    path = tmp_path / "asr.zarr"
    with pytest.raises(StoreError, match=r"disk is full.*partial store .* was removed.*MB"):
        write_store(path, {"train": make_utterances(20)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "split, utt_id, features, message",
    [
        ("train", "a", np.zeros((5, LAYERS, DIM + 1)), r"shape \(5, 3, 9\).*8 dims"),
        ("train", "a", np.zeros((0, LAYERS, DIM)), r"frames >= 1"),
        ("train", "a", np.full((5, LAYERS, DIM), np.nan), "NaN or inf.*train/a"),
        ("train", "a", np.full((5, LAYERS, DIM), 1e5), "beyond float16's range"),
        ("train", "dup", np.zeros((5, LAYERS, DIM)), "appears twice"),
        ("a/b", "a", np.zeros((5, LAYERS, DIM)), "bad split name"),
        ("train", 7, np.zeros((5, LAYERS, DIM)), "bad utterance id"),
    ],
)
def test_bad_features_are_refused_and_nothing_is_published(tmp_path, split, utt_id, features,
                                                           message):
    path = tmp_path / "asr.zarr"
    with pytest.raises(StoreError, match=message):
        with StoreWriter(path, "tiny_hubert", "h", LAYERS, DIM, 50.0) as writer:
            writer.add("train", "dup", np.zeros((2, LAYERS, DIM), np.float32))
            writer.add(split, utt_id, features)
    assert list(tmp_path.iterdir()) == []


def test_bad_reads_name_what_is_missing(tmp_path):
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(2)})
    store = FeatureStore.open(path)
    with pytest.raises(StoreError, match="'nope' is not in split 'train'"):
        store.get("train", "nope")
    with pytest.raises(StoreError, match="split 'dev' is not in"):
        store.ids("dev")
    with pytest.raises(StoreError, match=r"layers \[3\]"):
        store.get("train", "utt000", layers=[3])


def read_layer_one(job):
    store, utt_id = job
    return store.get("train", utt_id, [1])


def test_a_store_reads_the_same_in_spawned_workers(tmp_path):
    """A FeatureStore pickles to its path and index; spawned workers reopen the arrays."""
    utterances = make_utterances(6, max_frames=50)
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": utterances}, model_hash="hash-a")
    store = FeatureStore.open(path, "hash-a")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        seen = dict(zip(utterances, pool.map(read_layer_one, [(store, utt_id) for utt_id in utterances])))
    for utt_id, features in seen.items():
        assert_float16_close(features, utterances[utt_id][:, [1]])


def test_numpy_scalar_attributes_are_stored_as_plain_json(tmp_path):
    path = tmp_path / "asr.zarr"
    with StoreWriter(path, "tiny_hubert", "h", LAYERS, DIM, np.float64(50.0),
                     attrs={"layers_from": np.int64(0)}) as writer:
        writer.add("train", "a", np.ones((2, LAYERS, DIM), np.float16))
        attrs = writer.close({"wall_time_s": np.float32(0.5)})
    assert json.loads(json.dumps(attrs)) == attrs
    assert FeatureStore.open(path).attrs["layers_from"] == 0
    assert FeatureStore.open(path).attrs["wall_time_s"] == 0.5


# --- damaged stores ------------------------------------------------------------------------------


def read_everything(path) -> None:
    store = FeatureStore.open(path)
    for split in store.splits:
        for utt_id in store.ids(split):
            store.get(split, utt_id)


def flip_bytes(file, start: int, count: int = 16) -> None:
    data = bytearray(file.read_bytes())
    data[start : start + count] = bytes(byte ^ 0xFF for byte in data[start : start + count])
    file.write_bytes(bytes(data))


def rename_an_id(path) -> None:
    """Change one id in the split's metadata, keeping the file's size."""
    metadata = path / "train" / "zarr.json"
    metadata.write_text(metadata.read_text().replace("utt001", "utt999"))


SHARD = "train/features/c/1/0/0"  # the second of three train shards
SHARD_INDEX_BYTES = 16 * (SHARD_FRAMES // 64) + 4  # at the end: (offset, length) per chunk, CRC
DAMAGES = {
    "16 bytes flipped inside a shard": lambda path: flip_bytes(path / SHARD, 20_000),
    "the shard index flipped":
        lambda path: flip_bytes(path / SHARD, (path / SHARD).stat().st_size - SHARD_INDEX_BYTES),
    "a shard deleted": lambda path: (path / SHARD).unlink(),
    "a shard truncated":
        lambda path: (path / SHARD).write_bytes((path / SHARD).read_bytes()[:-300]),
    "the offsets flipped": lambda path: flip_bytes(path / "train/offsets/c/0", 10, 8),
    "an id renamed": rename_an_id,
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_store_is_never_read_silently(tmp_path, damage):
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(12, seed=1), "dev": make_utterances(3, seed=2)})
    read_everything(path)
    DAMAGES[damage](path)
    rebuild = (rf"{path}.*delete the folder {path} and its summary {tmp_path / 'asr.json'} "
               r"\(if they exist\), then rerun snakemake")
    with pytest.raises(StoreError, match=rebuild):
        read_everything(path)


def test_a_failed_read_names_the_split_and_utterance(tmp_path):
    path = tmp_path / "asr.zarr"
    utterances = make_utterances(12, seed=1)
    write_store(path, {"train": utterances})
    store = FeatureStore.open(path)
    flip_bytes(path / "train/features/c/0/0/0", 100)  # inside the first chunk: utt000
    with pytest.raises(StoreError,
                       match=rf"utterance 'utt000' of split 'train' .*{path}.*checksum"):
        store.get("train", "utt000")


def test_a_store_of_the_previous_format_is_refused(tmp_path):
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(2)})
    metadata = json.loads((path / "zarr.json").read_text())
    metadata["attributes"]["format_version"] = 1  # format 1 had no chunk checksums
    (path / "zarr.json").write_text(json.dumps(metadata))
    (path / MARKER).write_text(json.dumps({"model": "tiny_hubert", "model_hash": "hash-a"}))
    with pytest.raises(StoreError, match=r"written by an older minisuperb.*delete the folder"):
        FeatureStore.open(path)
