"""The Zarr feature store: round trip (float16 and uint8 storage), publication, refusal of wrong
stores, kill -9, disk full, damage."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import zarr.storage._local

from minisuperb.store import FeatureStore, StoreError, StoreWriter
from minisuperb.store.layout import MARKER, SHARD_FRAMES, STORAGES, bytes_on_disk, file_list

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


def uint8_bounds(utterances: dict[str, np.ndarray], pooled: bool = False) -> dict[str, np.ndarray]:
    """The uint8 storage's bound for every value of a split written in this order: within each
    shard of SHARD_FRAMES frames, channel c spans [low_c, low_c + range_c], y = (x - low_c) /
    range_c, and the error is at most range_c * (the frame's max y - min y) / 510, plus float32
    rounding of the arithmetic."""
    rows = [x.mean(axis=0, keepdims=True) if pooled else x for x in utterances.values()]
    frames = np.concatenate(rows).astype(np.float64)
    bounds = np.empty_like(frames)
    for start in range(0, len(frames), SHARD_FRAMES):
        block = frames[start : start + SHARD_FRAMES]
        low, span = block.min(axis=0), np.ptp(block, axis=0)
        normed = np.divide(block - low, span, out=np.zeros_like(block), where=span > 0)
        frame_span = np.ptp(normed, axis=2, keepdims=True)
        bounds[start : start + SHARD_FRAMES] = (span * frame_span / 510 * (1 + 1e-4)
                                                + 1e-6 * (np.abs(low) + span))
    split_at = np.cumsum([len(x) for x in rows])[:-1]
    return dict(zip(utterances, np.split(bounds, split_at)))


def assert_split_close(store: FeatureStore, split: str, utterances: dict[str, np.ndarray],
                       pooled: bool = False, layers: list[int] | None = None) -> float:
    """Every utterance of `split` reads back as float32 within its storage's bound; returns the
    largest error / bound (uint8: how tight the bound is)."""
    bounds = uint8_bounds(utterances, pooled) if store.attrs["dtype"] == "uint8" else {}
    columns = slice(None) if layers is None else layers
    worst = 0.0
    for utt_id, features in utterances.items():
        expected = (features.mean(axis=0, keepdims=True) if pooled else features)[:, columns]
        got = store.get(split, utt_id, layers)
        assert got.dtype == np.float32 and got.shape == expected.shape
        if store.attrs["dtype"] == "float16":
            assert_float16_close(got, expected)
            continue
        bound = bounds[utt_id][:, columns]
        assert np.all(np.abs(got - expected) <= bound), utt_id
        worst = max(worst, float(np.max(np.abs(got - expected) / np.maximum(bound, 1e-30))))
    return worst


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


def test_uint8_round_trip_within_its_error_bound(tmp_path):
    """Two stages per shard of frames: each channel on its range over the shard, then each
    frame on its own range; the error of every value stays within the stated bound, whatever the
    scale of the layer (1e-3 to 300 here) or of the frame, in whole and partial shards."""
    train, dev = make_utterances(12, seed=1), make_utterances(5, seed=2)
    train["utt000"][::7] *= 1e-4  # quiet frames among loud ones
    train["utt001"] += 50.0  # an offset far from zero
    assert sum(len(x) for x in train.values()) > 2 * SHARD_FRAMES  # spans whole and edge shards
    path = tmp_path / "asr.zarr"
    attrs = write_store(path, {"train": train, "dev": dev}, storage="uint8")
    assert (attrs["dtype"], attrs["format_version"]) == ("uint8", 3)

    store = FeatureStore.open(path, "hash-a")
    assert store.ids("train") == list(train)
    assert [store.num_frames("train", u) for u in train] == [len(x) for x in train.values()]
    assert assert_split_close(store, "train", train) > 0.9  # tight: the values went through 8 bits
    assert_split_close(store, "dev", dev)
    assert_split_close(store, "dev", dev, layers=[2, 0])
    assert_split_close(store, "train", train, layers=[1])
    # On disk: one byte per value, (low, step) per frame and layer, (low, range) per shard and
    # channel (bytes per audio hour: bench/bench_store.py; with 8 dims here the scales weigh as
    # much as the codes).
    frames = attrs["splits"]["train"]["frames"]
    on_disk = {name: json.loads((path / "train" / name / "zarr.json").read_text())
               for name in ("features", "scales", "channels")}
    assert [on_disk[name]["data_type"] for name in on_disk] == ["uint8", "float32", "float32"]
    assert on_disk["features"]["shape"] == [frames, LAYERS, DIM]
    assert on_disk["scales"]["shape"] == [frames, LAYERS, 2]
    assert on_disk["channels"]["shape"] == [-(-frames // SHARD_FRAMES), LAYERS, DIM, 2]


def test_uint8_keeps_channels_that_vary_little_next_to_others(tmp_path):
    """A channel far from zero, or with 1000 times the spread of its neighbours, does not
    take the resolution of the others (a per-frame range alone would leave them ~4 levels)."""
    rng = np.random.default_rng(4)
    utterances = {f"u{i}": rng.standard_normal((300, LAYERS, DIM)).astype(np.float32)
                  for i in range(5)}
    for features in utterances.values():
        features[:, 0, 3] += 1000.0  # a massive, near-constant activation
        features[:, 1, 5] *= 1000.0  # a loud channel
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": utterances}, storage="uint8")
    store = FeatureStore.open(path)
    assert_split_close(store, "train", utterances)
    quiet = np.ones((LAYERS, DIM), bool)
    quiet[0, 3] = quiet[1, 5] = False
    for utt_id, features in utterances.items():
        error = store.get("train", utt_id) - features
        assert np.sqrt(np.mean(error[:, quiet] ** 2)) < 0.01  # the channels' std is 1


def test_uint8_keeps_constant_and_zero_channels_exactly(tmp_path):
    """A channel constant over its shard of frames (a zero layer, zero-padded dims, any
    constant) has range 0 and reads back exactly; so does a split of zeros."""
    rng = np.random.default_rng(3)
    utterances = {f"u{i}": rng.standard_normal((int(n), LAYERS, DIM)).astype(np.float32)
                  for i, n in enumerate(rng.integers(1, 700, 6))}
    for features in utterances.values():
        features[:, 0] = 0.0  # a zero layer
        features[:, 2] = -3.25  # a constant layer
        features[:, 1, 6:] = 0.0  # zero-padded dims
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": utterances, "dev": {"zeros": np.zeros((5, LAYERS, DIM))}},
                storage="uint8")
    store = FeatureStore.open(path)
    assert_split_close(store, "train", utterances)
    for utt_id, features in utterances.items():
        got = store.get("train", utt_id)
        assert np.array_equal(got[:, [0, 2]], features[:, [0, 2]])
        assert np.array_equal(got[:, 1, 6:], features[:, 1, 6:])
    assert np.array_equal(store.get("dev", "zeros"), np.zeros((5, LAYERS, DIM), np.float32))


@pytest.mark.parametrize("storage", STORAGES)
def test_pooled_store_of_each_storage_keeps_the_time_average(tmp_path, storage):
    utterances = make_utterances(20)
    path = tmp_path / "sid.zarr"
    attrs = write_store(path, {"test": utterances}, pooled=True, storage=storage)
    store = FeatureStore.open(path)
    assert (attrs["pooled"], attrs["dtype"], attrs["chunk_frames"]) == (True, storage, 8)
    assert all(store.num_frames("test", utt_id) == 1 for utt_id in utterances)
    assert_split_close(store, "test", utterances, pooled=True)
    assert_split_close(store, "test", utterances, pooled=True, layers=[2, 1])


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
    version = f"asr.zarr.v-{store.attrs['store_id']}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["asr.zarr", version, f"{version}.readers"]


def test_a_store_being_read_is_never_replaced_underneath_its_reader(tmp_path):
    """Another run (Snakemake 9.27 drops every run's locks when one ends) re-extracts the store
    while a training job reads it: the reader keeps its version; the new one is published beside
    it, and the old one is deleted by the first publish after the reader is done."""
    path = tmp_path / "asr.zarr"
    old = make_utterances(3, seed=1)
    write_store(path, {"train": old}, model_hash="old")
    reader = FeatureStore.open(path, "old")
    first = reader.get("train", "utt000")
    os.remove(path)  # what Snakemake does to a directory output before rerunning its job
    write_store(path, {"train": make_utterances(2, seed=2)}, model_hash="new")
    assert FeatureStore.open(path, "new").attrs["model_hash"] == "new"
    assert np.array_equal(reader.get("train", "utt000"), first)  # still the old version, intact
    assert (tmp_path / f"asr.zarr.v-{reader.attrs['store_id']}").is_dir()
    del reader
    write_store(path, {"train": make_utterances(2, seed=3)}, model_hash="newer")
    versions = [p for p in tmp_path.iterdir() if p.name.startswith("asr.zarr.v-") and not p.name.endswith(".readers")]
    assert [p.name for p in versions] == [Path(os.path.realpath(path)).name]


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
    assert not list(path.parent.glob("asr.zarr.tmp-*"))  # leftover removed
    assert FeatureStore.open(path, "hash-a").ids("train") == list(utterances)


@pytest.mark.parametrize("storage", STORAGES)
def test_disk_full_removes_the_partial_store_and_says_so(tmp_path, monkeypatch, storage):
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
        write_store(path, {"train": make_utterances(20)}, storage=storage)
    assert list(tmp_path.iterdir()) == []


NAN_ONE_VALUE = np.zeros((5, LAYERS, DIM))
NAN_ONE_VALUE[3, 1, 4] = np.nan


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize(
    "split, utt_id, features, message",
    [
        ("train", "a", np.zeros((5, LAYERS, DIM + 1)), r"shape \(5, 3, 9\).*8 dims"),
        ("train", "a", np.zeros((0, LAYERS, DIM)), r"frames >= 1"),
        ("train", "a", np.full((5, LAYERS, DIM), np.nan), "NaN or inf.*train/a"),
        ("train", "a", NAN_ONE_VALUE, "NaN or inf.*train/a"),
        ("train", "a", np.full((5, LAYERS, DIM), -np.inf), "NaN or inf.*train/a"),
        ("train", "dup", np.zeros((5, LAYERS, DIM)), "appears twice"),
        ("a/b", "a", np.zeros((5, LAYERS, DIM)), "bad split name"),
        ("train", 7, np.zeros((5, LAYERS, DIM)), "bad utterance id"),
    ],
)
def test_bad_features_are_refused_and_nothing_is_published(tmp_path, split, utt_id, features,
                                                           message, storage):
    path = tmp_path / "asr.zarr"
    with pytest.raises(StoreError, match=message):
        with StoreWriter(path, "tiny_hubert", "h", LAYERS, DIM, 50.0, storage=storage) as writer:
            writer.add("train", "dup", np.zeros((2, LAYERS, DIM), np.float32))
            writer.add(split, utt_id, features)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("storage, peak, accepted", [
    ("float16", 1e5, False), ("uint8", 1e5, True), ("uint8", 2e38, False)])
def test_values_beyond_the_storage_range_are_refused(tmp_path, storage, peak, accepted):
    features = np.zeros((5, LAYERS, DIM))
    features[2, 1, 3] = -peak
    path = tmp_path / "asr.zarr"
    if accepted:
        write_store(path, {"train": {"a": features}}, storage=storage)
        assert FeatureStore.open(path).get("train", "a")[2, 1, 3] == pytest.approx(-peak)
        return
    with pytest.raises(StoreError, match=re.escape(f"reach {peak:.3g}, beyond {storage}'s range")):
        write_store(path, {"train": {"a": features}}, storage=storage)
    assert list(tmp_path.iterdir()) == []


def test_unknown_storage_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown storage 'int4'; known: \['float16', 'uint8'\]"):
        StoreWriter(tmp_path / "asr.zarr", "m", "h", LAYERS, DIM, 50.0, storage="int4")
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


@pytest.mark.parametrize("storage", STORAGES)
def test_a_store_reads_the_same_in_spawned_workers(tmp_path, storage):
    """A FeatureStore pickles to its path and index; spawned workers reopen the arrays."""
    utterances = make_utterances(6, max_frames=50)
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": utterances}, model_hash="hash-a", storage=storage)
    store = FeatureStore.open(path, "hash-a")
    store.get("train", "utt000")  # the parent's open handles must not travel
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        seen = dict(zip(utterances, pool.map(read_layer_one, [(store, utt_id) for utt_id in utterances])))
    for utt_id, features in seen.items():
        np.testing.assert_array_equal(features, store.get("train", utt_id, [1]))
    assert_split_close(store, "train", utterances, layers=[1])


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
SCALES_SHARD = "train/scales/c/1/0/0"  # its frame scales (uint8 storage)
CHANNELS_FILE = "train/channels/c/0/0/0/0"  # the channel scales of all three (uint8 storage)
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
SCALES_DAMAGES = {  # uint8 storage only
    "8 bytes flipped inside a scales shard": lambda path: flip_bytes(path / SCALES_SHARD, 1000, 8),
    "the scales shard index flipped":
        lambda path: flip_bytes(path / SCALES_SHARD,
                                (path / SCALES_SHARD).stat().st_size - SHARD_INDEX_BYTES),
    "a scales shard deleted": lambda path: (path / SCALES_SHARD).unlink(),
    "a scales shard truncated":
        lambda path: (path / SCALES_SHARD).write_bytes((path / SCALES_SHARD).read_bytes()[:-30]),
    "the scales metadata changed": lambda path: (path / "train/scales/zarr.json").write_text(
        (path / "train/scales/zarr.json").read_text().replace('"float32"', '"float64"')),
    "8 bytes flipped in the channel scales": lambda path: flip_bytes(path / CHANNELS_FILE, 50, 8),
    "the channel scales deleted": lambda path: (path / CHANNELS_FILE).unlink(),
    "the channel scales index flipped":
        lambda path: flip_bytes(path / CHANNELS_FILE, (path / CHANNELS_FILE).stat().st_size - 20),
}


@pytest.mark.parametrize("storage, damage", [*(("float16", name) for name in DAMAGES),
                                             *(("uint8", name) for name in DAMAGES),
                                             *(("uint8", name) for name in SCALES_DAMAGES)])
def test_a_damaged_store_is_never_read_silently(tmp_path, storage, damage):
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(12, seed=1), "dev": make_utterances(3, seed=2)},
                storage=storage)
    read_everything(path)
    {**DAMAGES, **SCALES_DAMAGES}[damage](path)
    rebuild = (rf"{path}.*delete the folder {path} and its summary {tmp_path / 'asr.json'} "
               r"\(if they exist\), then rerun snakemake")
    with pytest.raises(StoreError, match=rebuild):
        read_everything(path)


@pytest.mark.parametrize("storage, chunk", [("float16", "features/c/0/0/0"),
                                            ("uint8", "features/c/0/0/0"),
                                            ("uint8", "scales/c/0/0/0"),
                                            ("uint8", "channels/c/0/0/0/0")])
def test_a_failed_read_names_the_split_and_utterance(tmp_path, storage, chunk):
    """A flipped byte inside a chunk (of the values, or of a uint8 store's frame or channel
    scales) fails the chunk's CRC32C when that utterance is read, though the file keeps its size."""
    path = tmp_path / "asr.zarr"
    utterances = make_utterances(12, seed=1)
    write_store(path, {"train": utterances}, storage=storage)
    store = FeatureStore.open(path)
    flip_bytes(path / "train" / chunk, 100, 4)  # inside the first chunk: utt000
    FeatureStore.open(path)  # sizes unchanged: only the checksum can tell
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


def set_root_attributes(path, **changes) -> None:
    """Edit the root attributes and re-record their digest in the marker, as a writer of that
    version would have (so only the version and dtype checks can refuse the store)."""
    metadata = json.loads((path / "zarr.json").read_text())
    metadata["attributes"].update(changes)
    (path / "zarr.json").write_text(json.dumps(metadata))
    (path / MARKER).write_text(json.dumps({"model": "tiny_hubert", "model_hash": "hash-a",
                                           "files": file_list(path)}))


def test_a_float16_store_of_format_2_is_still_read(tmp_path):
    """Format 3 added the uint8 storage only: a format 2 store is a float16 store."""
    path = tmp_path / "asr.zarr"
    utterances = make_utterances(3)
    write_store(path, {"train": utterances})
    set_root_attributes(path, format_version=2)
    store = FeatureStore.open(path, "hash-a")
    assert_float16_close(store.get("train", "utt001"), utterances["utt001"])


@pytest.mark.parametrize("version, dtype, message", [
    (2, "uint8", r"values of type 'uint8', which this version of minisuperb cannot read"),
    (3, "int4", r"values of type 'int4', which this version of minisuperb cannot read"),
    (3, None, r"values of type None"),
    (4, "uint8", r"written by a newer minisuperb \(store format 4; this version reads formats "
                 r"2 to 3"),
])
def test_a_store_of_an_unknown_format_or_dtype_is_refused(tmp_path, version, dtype, message):
    path = tmp_path / "asr.zarr"
    write_store(path, {"train": make_utterances(2)}, storage="uint8")
    set_root_attributes(path, format_version=version, dtype=dtype)
    with pytest.raises(StoreError, match=message + r".*delete the folder"):
        FeatureStore.open(path)
