"""Read a feature store: check it is complete and from the wanted model, then random access.

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
from minisuperb.store.layout import FORMAT_VERSION, MARKER, leftover_paths


@contextlib.contextmanager
def _quiet_zarr():
    """Snakemake leaves `.snakemake_timestamp` in directory outputs; zarr warns about it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object at .* is not recognized")
        yield


class FeatureStore:
    """A published, complete feature store. Create it with `FeatureStore.open`."""

    def __init__(self, path: Path, attrs: dict, index: dict[str, tuple[list[str], np.ndarray]]):
        self.path = path
        self.attrs = attrs
        self._index = index
        self._positions = {split: {utt: i for i, utt in enumerate(ids)}
                           for split, (ids, _) in index.items()}
        self._arrays: dict[str, zarr.Array] = {}
        self._arrays_pid = os.getpid()

    @classmethod
    def open(cls, path, model_hash: str | None = None) -> FeatureStore:
        """Open the store at `path`; refuse it if it is missing, unfinished or (when
        `model_hash` is given) written for another model configuration."""
        path = Path(path)
        attrs = _checked_attrs(path, model_hash)
        with _quiet_zarr():
            root = zarr.open_group(path, mode="r")
            index = {}
            for split in attrs["splits"]:
                group = root[split]
                index[split] = (list(group.attrs["ids"]), np.asarray(group["offsets"][:]))
        return cls(path, attrs, index)

    @property
    def splits(self) -> list[str]:
        return list(self._index)

    def ids(self, split: str) -> list[str]:
        return list(self._split_index(split)[0])

    def num_frames(self, split: str, utt_id: str) -> int:
        start, stop = self._bounds(split, utt_id)
        return stop - start

    def get(self, split: str, utt_id: str, layers: Sequence[int] | None = None) -> np.ndarray:
        """The features of one utterance as float32 `[frames, layers, dim]` (all layers, or
        the given layer indices in the given order)."""
        start, stop = self._bounds(split, utt_id)
        rows = self._array(split)[start:stop]
        if layers is not None:
            rows = rows[:, self._checked_layers(layers)]
        return rows.astype(np.float32)

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
                f"another subset: rerun the extraction (its subset list is "
                f"data/<task>/subsets/extract.txt).")
        return int(offsets[position]), int(offsets[position + 1])

    def _checked_layers(self, layers: Sequence[int]) -> list[int]:
        layers = [int(layer) for layer in layers]
        count = self.attrs["num_layers"]
        if not layers or any(not 0 <= layer < count for layer in layers):
            raise StoreError(f"layers {layers} are not a non-empty selection of the "
                             f"{count} layers (0..{count - 1}) in the feature store {self.path}.")
        return layers

    def _array(self, split: str) -> zarr.Array:
        if self._arrays_pid != os.getpid():  # a forked child: never reuse the parent's handles
            self._arrays, self._arrays_pid = {}, os.getpid()
        if split not in self._arrays:
            with _quiet_zarr():
                self._arrays[split] = zarr.open_array(self.path / split / "features", mode="r")
        return self._arrays[split]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_arrays"] = {}  # zarr handles are reopened in the receiving process
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._arrays_pid = os.getpid()


def _checked_attrs(path: Path, model_hash: str | None) -> dict:
    """The store's attributes, after checking it is published, complete and the wanted one."""
    rerun = (f"rerun the extraction that writes it (Snakemake target "
             f"{path.with_suffix('.json')})")
    if not path.is_dir():
        leftovers = leftover_paths(path)
        if leftovers:
            raise StoreError(f"no complete feature store at {path}: only the partial store "
                             f"{leftovers[0]} of an interrupted extraction exists; {rerun}.")
        raise StoreError(f"no feature store at {path}; {rerun}.")
    attrs = _root_attrs(path)
    if not (path / MARKER).is_file() or attrs.get("complete") is not True:
        raise StoreError(f"the feature store {path} is incomplete (no completion marker): it was "
                         f"not written by a finished extraction. Delete it and {rerun}.")
    if attrs.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"the feature store {path} has format version "
                         f"{attrs.get('format_version')}, this code reads {FORMAT_VERSION}. "
                         f"Delete it and {rerun}.")
    if model_hash is not None and attrs.get("model_hash") != model_hash:
        raise StoreError(
            f"the feature store {path} holds features of model {attrs.get('model')!r} with "
            f"config hash {attrs.get('model_hash')}, but hash {model_hash} was wanted: the "
            f"model's configuration changed since extraction. Delete the store and {rerun}.")
    return attrs


def _root_attrs(path: Path) -> dict:
    try:
        metadata = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError) as error:
        raise StoreError(f"{path} is not a readable feature store ({error}); delete it and "
                         f"rerun the extraction.") from error
    return metadata.get("attributes", {})
