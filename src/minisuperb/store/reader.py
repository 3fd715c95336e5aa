"""Read a feature store: check it is complete and from the wanted model, then random access.

`get` returns float32 whatever the storage: float16 values are cast, uint8 codes dequantised
with their frame and channel scales (the store's `dtype` attribute says which).
`FeatureStore` keeps the index (ids and offsets) in memory and opens the zarr arrays lazily in
each process, so it pickles cheaply into spawn-mode DataLoader workers. Do not use fork-mode
workers: zarr's event-loop thread does not survive a fork (deadlocks were observed).
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import zarr

from minisuperb.store.errors import StoreError
from minisuperb.store.layout import (
    FORMAT_VERSION,
    MARKER,
    METADATA_FILE,
    CHANNELS,
    READABLE_FORMATS,
    SCALES,
    SHARD_FRAMES,
    STORAGES,
    dequantise,
    hold_read_lock,
    leftover_paths,
    sha256,
)


@contextlib.contextmanager
def _quiet_zarr():
    """Snakemake leaves `.snakemake_timestamp` in directory outputs; zarr warns about it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object at .* is not recognized")
        yield


class FeatureStore:
    """A published, complete feature store. Create it with `FeatureStore.open`."""

    def __init__(self, path: Path, attrs: dict, index: dict[str, tuple[list[str], np.ndarray]],
                 files: Path | None = None, read_lock=None, sources: dict[str, list] | None = None):
        self.path = path  # as the user named it, for messages
        self.files = files or path  # the version folder it resolved to when opened
        self._read_lock = read_lock  # held while this object lives (layout.hold_read_lock)
        self.attrs = attrs
        self._index = index
        self._positions = {split: {utt: i for i, utt in enumerate(ids)}
                           for split, (ids, _) in index.items()}
        self._quantised = attrs.get("dtype") == "uint8"
        self._arrays: dict[str, dict[str, zarr.Array]] = {}
        self._arrays_pid = os.getpid()
        self._sources = sources or {split: [None] * len(ids) for split, (ids, _) in index.items()}

    @classmethod
    def open(cls, path, model_hash: str | None = None) -> FeatureStore:
        """Open the store at `path`; refuse it if it is missing, unfinished or (when
        `model_hash` is given) written for another model configuration."""
        path = Path(path)
        # Resolve the link once and lock that version: a store published meanwhile by another
        # run switches the link but never touches the version this reader holds.
        files = Path(os.path.realpath(path))
        read_lock = hold_read_lock(files) if path.is_symlink() else None
        attrs = _checked_attrs(files, model_hash, path)
        index, sources = {}, {}
        for split in attrs["splits"]:
            with _damage_reported(path, f"the index of split {split!r}"), _quiet_zarr():
                group = zarr.open_group(files / split, mode="r")
                index[split] = (list(group.attrs["ids"]), np.asarray(group["offsets"][:]))
                sources[split] = group.attrs.get("sources") or [None] * len(index[split][0])
        return cls(path, attrs, index, files, read_lock, sources)

    def close(self) -> None:
        """Release the version this store holds (it may then be deleted by a publisher)."""
        if self._read_lock is not None:
            self._read_lock.close()
            self._read_lock = None

    @property
    def splits(self) -> list[str]:
        return list(self._index)

    def ids(self, split: str) -> list[str]:
        return list(self._split_index(split)[0])

    def sources(self, split: str) -> dict[str, str | None]:
        """{id: the audio identity it was extracted from} of a split (None where the writer
        recorded none, as in stores of older versions)."""
        return dict(zip(self._split_index(split)[0], self._sources[split]))

    def num_frames(self, split: str, utt_id: str) -> int:
        start, stop = self._bounds(split, utt_id)
        return stop - start

    def get(self, split: str, utt_id: str, layers: Sequence[int] | None = None) -> np.ndarray:
        """The features of one utterance as float32 `[frames, layers, dim]` (all layers, or
        the given layer indices in the given order). A uint8 store's codes are dequantised."""
        start, stop = self._bounds(split, utt_id)
        columns = slice(None) if layers is None else self._checked_layers(layers)
        arrays = self._split_arrays(split)
        with _damage_reported(self.path, f"utterance {utt_id!r} of split {split!r}"):
            rows = arrays["features"][start:stop]
            if self._quantised:
                scales = arrays[SCALES][start:stop]
                channels = arrays[CHANNELS][start // SHARD_FRAMES : (stop - 1) // SHARD_FRAMES + 1]
        if self._quantised:
            return dequantise(rows[:, columns], scales[:, columns], channels[:, columns], start)
        return rows[:, columns].astype(np.float32)

    # --- internals ----------------------------------------------------------------------------

    def _split_index(self, split: str) -> tuple[list[str], np.ndarray]:
        if split not in self._index:
            raise StoreError(f"split {split!r} is not in the feature store {self.path} "
                             f"(it has {self.splits}); rerun the extraction for this subset.")
        return self._index[split]

    def _bounds(self, split: str, utt_id: str) -> tuple[int, int]:
        _, offsets = self._split_index(split)
        position = self._positions[split].get(utt_id)
        if position is None:
            raise StoreError(
                f"utterance {utt_id!r} is not in split {split!r} of the feature store "
                f"{self.path} ({len(offsets) - 1} utterances); the store was extracted for "
                f"another subset. {_rebuild_hint(self.path)}")
        return int(offsets[position]), int(offsets[position + 1])

    def _checked_layers(self, layers: Sequence[int]) -> list[int]:
        layers = [int(layer) for layer in layers]
        count = self.attrs["num_layers"]
        if not layers or any(not 0 <= layer < count for layer in layers):
            raise StoreError(f"layers {layers} are not a non-empty selection of the "
                             f"{count} layers (0..{count - 1}) in the feature store {self.path}.")
        return layers

    def _split_arrays(self, split: str) -> dict[str, zarr.Array]:
        if self._arrays_pid != os.getpid():  # a forked child: never reuse the parent's handles
            self._arrays, self._arrays_pid = {}, os.getpid()
        if split not in self._arrays:
            names = ["features", SCALES, CHANNELS] if self._quantised else ["features"]
            with _damage_reported(self.path, f"the arrays of split {split!r}"), _quiet_zarr():
                self._arrays[split] = {name: zarr.open_array(self.files / split / name, mode="r")
                                       for name in names}
        return self._arrays[split]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_arrays"] = {}  # zarr handles are reopened in the receiving process
        state["_read_lock"] = None  # the opening process holds the version for its workers
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._arrays_pid = os.getpid()


def _rebuild_hint(path: Path) -> str:
    # The summary JSON is Snakemake's output: while it exists, Snakemake does not rerun the job.
    return (f"To rebuild it, delete the folder {path} and its summary {path.with_suffix('.json')} "
            f"(if they exist), then rerun snakemake, which re-extracts it.")


@contextlib.contextmanager
def _damage_reported(path: Path, what: str):
    """Any failure to read stored bytes (a checksum mismatch, a decompression error) means the
    store is damaged: say which store and what was being read."""
    try:
        yield
    except MemoryError:
        raise
    except Exception as error:  # zarr and its codecs raise many types for damaged bytes
        raise StoreError(f"cannot read {what} from the feature store {path}: the store is "
                         f"damaged ({type(error).__name__}: {error}). "
                         f"{_rebuild_hint(path)}") from error


def _checked_attrs(files: Path, model_hash: str | None, path: Path) -> dict:
    """The store's attributes, after checking it is published, complete, of this format, the
    wanted one, and that every file written is there with its size (and metadata unchanged).
    `files` is the folder read (the version the link `path` resolved to); messages name `path`."""
    if not files.is_dir():
        leftovers = leftover_paths(path)
        if leftovers:
            raise StoreError(f"no complete feature store at {path}: only the partial store "
                             f"{leftovers[0]} of an interrupted extraction exists. "
                             f"{_rebuild_hint(path)}")
        raise StoreError(f"no feature store at {path}. {_rebuild_hint(path)}")
    attrs = _read_json(files, METADATA_FILE).get("attributes", {})
    if not (files / MARKER).is_file() or attrs.get("complete") is not True:
        raise StoreError(f"the feature store {path} is incomplete (no completion marker): it was "
                         f"not written by a finished extraction. {_rebuild_hint(path)}")
    version = attrs.get("format_version")
    if version not in READABLE_FORMATS:
        era = "a newer" if isinstance(version, int) and version > FORMAT_VERSION else "an older"
        raise StoreError(f"the feature store {path} was written by {era} minisuperb (store format "
                         f"{version}; this version reads formats {READABLE_FORMATS[0]} to "
                         f"{READABLE_FORMATS[-1]}, whose chunks carry checksums). "
                         f"{_rebuild_hint(path)}")
    # Format 2 knew float16 only; a store's dtype says how to read its values.
    if attrs.get("dtype") not in (STORAGES if version >= 3 else ("float16",)):
        raise StoreError(f"the feature store {path} holds values of type {attrs.get('dtype')!r}, "
                         f"which this version of minisuperb cannot read (it reads "
                         f"{', '.join(STORAGES)}). {_rebuild_hint(path)}")
    if model_hash is not None and attrs.get("model_hash") != model_hash:
        raise StoreError(
            f"the feature store {path} holds features of model {attrs.get('model')!r} with "
            f"config hash {attrs.get('model_hash')}, but hash {model_hash} was wanted: the "
            f"model's configuration changed since extraction. {_rebuild_hint(path)}")
    _check_files(files, _read_json(files, MARKER).get("files", {}), path)
    return attrs


def _check_files(files: Path, listed: dict[str, dict], path: Path) -> None:
    """zarr reads a missing chunk file as zeros, and metadata has no checksum: compare both
    with what the writer recorded. One `stat` per file (a shard holds 1024 frames)."""
    damaged = [] if listed else [f"its completion marker {MARKER} lists no files"]
    for name, recorded in listed.items():
        try:
            size = (files / name).stat().st_size
        except FileNotFoundError:
            damaged.append(f"{name} is missing")
            continue
        if size != recorded["bytes"]:
            damaged.append(f"{name} has {size} bytes, not {recorded['bytes']}")
        elif "sha256" in recorded and sha256(files / name) != recorded["sha256"]:
            damaged.append(f"{name} was modified")
    if damaged:
        more = f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""
        raise StoreError(f"the feature store {path} is damaged: {'; '.join(damaged[:5])}{more}. "
                         f"{_rebuild_hint(path)}")


def _read_json(path: Path, name: str) -> dict:
    try:
        return json.loads((path / name).read_text())
    except (OSError, ValueError) as error:
        raise StoreError(f"{path} is not a readable feature store ({name}: {error}). "
                         f"{_rebuild_hint(path)}") from error
