"""Write a feature store: buffer whole shards, write each once, publish by rename when complete.

The values are kept as float16, or (`storage="uint8"`) as 8-bit codes with per-shard channel and
per-frame scales (see `minisuperb.store.layout`); a uint8 split gathers a shard of frames in
float32 (40 MB for 13 x 768, 105 MB for 25 x 1024) and quantises it whole.
A store only appears at its final path, with its completion marker, once every split, the index
and the attributes are on disk; a `kill -9` at any point leaves at most a temporary sibling, which
readers ignore and the next writer for that path deletes.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import zarr

from minisuperb.store.errors import StoreError
from minisuperb.store.layout import (
    CODECS,
    DEFAULT_CODEC,
    CHANNEL_ROWS,
    CHANNELS,
    DEFAULT_STORAGE,
    FORMAT_VERSION,
    MARKER,
    SCALES,
    SHARD_FRAMES,
    STORAGES,
    bytes_on_disk,
    chunk_frames,
    compressors,
    file_list,
    leftover_paths,
    quantise,
    remove_unused_versions,
    temporary_path,
    version_path,
)

log = logging.getLogger(__name__)

SPLIT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")  # a folder name that cannot clash with the marker
RESERVED_ATTRS = frozenset(
    {"model", "model_hash", "num_layers", "dim", "frame_rate", "pooled", "dtype", "codec",
     "chunk_frames", "shard_frames", "format_version", "splits", "bytes_on_disk", "complete",
     "store_id"}
)


class _Appender:
    """One array of a split, grown along its first axis: rows fill a buffer of one zarr shard,
    which goes to disk in one write when full (a partial write to a shard rewrites the shard)."""

    def __init__(self, group: zarr.Group, name: str, row_shape: tuple, dtype: str,
                 chunk_rows: int, shard_rows: int, codec: str):
        self.array = group.create_array(
            name,
            shape=(0, *row_shape),
            chunks=(chunk_rows, *row_shape),
            shards=(shard_rows, *row_shape),
            dtype=dtype,
            compressors=compressors(codec, np.dtype(dtype).itemsize),
            fill_value=0,
        )
        self.buffer = np.empty((shard_rows, *row_shape), dtype=dtype)
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        done = 0
        while done < len(rows):
            count = min(len(self.buffer) - self.rows, len(rows) - done)
            # Assigning float32 into a float16 buffer is the cast: no extra copy.
            self.buffer[self.rows : self.rows + count] = rows[done : done + count]
            self.rows += count
            done += count
            if self.rows == len(self.buffer):
                self.flush()

    def flush(self) -> None:
        """Append the buffer: one whole shard, or the last, partial one at close."""
        if not self.rows:
            return
        start = self.array.shape[0]
        self.array.resize((start + self.rows, *self.array.shape[1:]))
        self.array[start:] = self.buffer[: self.rows]
        self.rows = 0

    @property
    def buffered_bytes(self) -> int:
        return self.rows * self.buffer[0].nbytes


class _SplitWriter:
    """One split. float16: rows go straight to the features' shard buffer. uint8: rows gather in
    a float32 shard of frames, quantised as a whole when full (its channel stage spans it), then
    its codes, frame scales and channel scales are appended."""

    def __init__(self, group: zarr.Group, split: str, num_layers: int, dim: int, pooled: bool,
                 codec: str, storage: str):
        self.group = group.create_group(split)
        self.codec = codec
        chunk = chunk_frames(pooled)
        self.features = _Appender(self.group, "features", (num_layers, dim), storage, chunk,
                                  SHARD_FRAMES, codec)
        self.quantised = storage == "uint8"
        if self.quantised:
            self.scales = _Appender(self.group, SCALES, (num_layers, 2), "float32", chunk,
                                    SHARD_FRAMES, codec)
            self.channels = _Appender(self.group, CHANNELS, (num_layers, dim, 2), "float32", 1,
                                      CHANNEL_ROWS, codec)
            self.pending = np.empty((SHARD_FRAMES, num_layers, dim), dtype=np.float32)
            self.pending_frames = 0
        self.ids: list[str] = []
        self.sources: list[str | None] = []
        self.known_ids: set[str] = set()
        self.offsets = [0]

    def add(self, utt_id: str, rows: np.ndarray, source: str | None) -> None:
        self.ids.append(utt_id)
        self.sources.append(source)
        self.known_ids.add(utt_id)
        self.offsets.append(self.offsets[-1] + len(rows))
        if not self.quantised:
            self.features.append(rows)
            return
        done = 0
        while done < len(rows):
            count = min(SHARD_FRAMES - self.pending_frames, len(rows) - done)
            self.pending[self.pending_frames : self.pending_frames + count] = \
                rows[done : done + count]
            self.pending_frames += count
            done += count
            if self.pending_frames == SHARD_FRAMES:
                self._quantise_pending()

    def finish(self) -> None:
        if self.quantised:
            self._quantise_pending()
            self.scales.flush()
            self.channels.flush()
        self.features.flush()
        self.group.create_array("offsets", data=np.asarray(self.offsets, dtype=np.int64),
                                compressors=compressors(self.codec, 8))
        self.group.attrs["ids"] = self.ids
        self.group.attrs["sources"] = self.sources

    def _quantise_pending(self) -> None:
        """Quantise the gathered shard of frames (whole, or the split's last, partial one)."""
        if not self.pending_frames:
            return
        codes, scales, channels = quantise(self.pending[: self.pending_frames])
        self.features.append(codes)
        self.scales.append(scales)
        self.channels.append(channels[None])
        self.pending_frames = 0

    @property
    def buffered_bytes(self) -> int:
        pending = self.pending_frames * self.pending[0].nbytes if self.quantised else 0
        appenders = [self.features, *([self.scales, self.channels] if self.quantised else [])]
        return pending + sum(appender.buffered_bytes for appender in appenders)


class StoreWriter:
    """Write one (model, task) feature store. See `minisuperb.store` for the contract."""

    def __init__(self, path, model: str, model_hash: str, num_layers: int, dim: int,
                 frame_rate: float, pooled: bool = False, attrs: dict | None = None, *,
                 codec: str = DEFAULT_CODEC, storage: str = DEFAULT_STORAGE):
        if num_layers < 1 or dim < 1 or not frame_rate > 0:
            raise ValueError(f"bad store shape: num_layers={num_layers} dim={dim} "
                             f"frame_rate={frame_rate}")
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}; known: {sorted(CODECS)}")
        if storage not in STORAGES:
            raise ValueError(f"unknown storage {storage!r}; known: {list(STORAGES)}")
        _refuse_reserved(attrs, "attrs")
        self.path = Path(path)
        self.tmp_path = temporary_path(self.path)
        self.attrs = {
            "model": model, "model_hash": model_hash, "num_layers": int(num_layers),
            "dim": int(dim), "frame_rate": float(frame_rate), "pooled": bool(pooled),
            "dtype": storage, "codec": codec, "chunk_frames": chunk_frames(pooled),
            "shard_frames": SHARD_FRAMES, "format_version": FORMAT_VERSION,
            # A new identity per extraction, even of the same model: a head trained on an earlier
            # store (an s3prl upgrade, replaced audio, a repaired store) is never resumed on this one.
            "store_id": uuid.uuid4().hex, **(attrs or {}),
        }
        self._splits: dict[str, _SplitWriter] = {}
        self._open = False
        self._guarded("create the store", self._create)
        self._open = True

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in leftover_paths(self.path):
            log.info("removing %s, left by an interrupted extraction", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(self.tmp_path, ignore_errors=True)
        self._group = zarr.open_group(self.tmp_path, mode="w-")

    # --- public API ---------------------------------------------------------------------------

    def add(self, split: str, utt_id: str, features, source: str | None = None) -> None:
        """Append one utterance `[frames, layers, dim]` (float32/16) to `split`; NaN, inf and
        values beyond the storage's range are refused. `source` identifies the audio it came
        from (see `minisuperb.store.reuse`), so that a later extraction may reuse it."""
        self._check_open()
        rows = self._checked_rows(split, utt_id, features)
        self._guarded(f"write {split}/{utt_id}", self._append, split, utt_id, rows, source)

    def close(self, extra_attrs: dict | None = None) -> dict:
        """Flush, write the index and attributes, the marker, and publish at `path`."""
        self._check_open()
        _refuse_reserved(extra_attrs, "extra_attrs")
        self.attrs.update(extra_attrs or {})
        self._guarded("finish the store", self._finish)
        self._guarded(f"publish the store at {self.path}", self._publish)
        self._open = False
        log.info("feature store %s: %s", self.path, _summary(self.attrs))
        return dict(self.attrs)

    def abort(self) -> None:
        """Drop the temporary store; nothing is published."""
        self._open = False
        shutil.rmtree(self.tmp_path, ignore_errors=True)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._open:
            self.close()

    # --- steps --------------------------------------------------------------------------------

    def _checked_rows(self, split: str, utt_id: str, features) -> np.ndarray:
        """Validate one utterance and return the rows to store (the split buffer casts them)."""
        if not isinstance(split, str) or not SPLIT_NAME.fullmatch(split):
            raise StoreError(f"bad split name {split!r} for utterance {utt_id!r}: use a plain "
                             f"lower-case name such as train, dev, test.")
        if not isinstance(utt_id, str) or not utt_id:
            raise StoreError(f"bad utterance id {utt_id!r} in split {split!r}: ids are "
                             f"non-empty strings (check the manifest).")
        if utt_id in getattr(self._splits.get(split), "known_ids", ()):
            raise StoreError(f"utterance id {utt_id!r} appears twice in split {split!r} of "
                             f"{self.path}; ids must be unique per split (check the manifest).")
        array = np.asarray(features)
        expected = (self.attrs["num_layers"], self.attrs["dim"])
        if array.ndim != 3 or array.shape[1:] != expected or array.shape[0] == 0:
            raise StoreError(
                f"features of {split}/{utt_id} have shape {array.shape}; the store for model "
                f"{self.attrs['model']!r} expects [frames >= 1, {expected[0]} layers, "
                f"{expected[1]} dims]. Check the model's layer count, hidden size and the audio "
                f"length (shorter than one frame gives no frames).")
        if self.attrs["pooled"]:
            array = array.mean(axis=0, keepdims=True, dtype=np.float32)
        # min and max propagate NaN and need no temporary arrays, unlike isfinite/abs.
        low, high = float(array.min()), float(array.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise StoreError(f"model {self.attrs['model']!r} produced NaN or inf features for "
                             f"{split}/{utt_id}; check the model checkpoint and this audio file.")
        peak, storage = max(-low, high), self.attrs["dtype"]
        if peak > STORAGES[storage]:
            raise StoreError(
                f"features of {split}/{utt_id} reach {peak:.3g}, beyond {storage}'s range "
                f"({STORAGES[storage]:.6g}); the store holds {storage}. This model's raw hidden "
                f"states are too large to store: scale its output in the model loader.")
        return array

    def _append(self, split: str, utt_id: str, rows: np.ndarray, source: str | None) -> None:
        if split not in self._splits:
            a = self.attrs
            self._splits[split] = _SplitWriter(self._group, split, a["num_layers"], a["dim"],
                                               a["pooled"], a["codec"], a["dtype"])
        self._splits[split].add(utt_id, rows, source)

    def _finish(self) -> None:
        for split in self._splits.values():
            split.finish()
        self.attrs["splits"] = {
            name: {"utterances": len(s.ids), "frames": s.offsets[-1]}
            for name, s in self._splits.items()
        }
        # Everything but the attributes and the marker is on disk: they add a few kB at most.
        self.attrs["bytes_on_disk"] = bytes_on_disk(self.tmp_path)
        self.attrs["complete"] = True
        self.attrs = _json_safe(self.attrs)
        self._group.attrs.update(self.attrs)
        # Every file but the marker is final now; readers check this list.
        marker = {"model": self.attrs["model"], "model_hash": self.attrs["model_hash"],
                  "files": file_list(self.tmp_path)}
        (self.tmp_path / MARKER).write_text(json.dumps(marker) + "\n")

    def _publish(self) -> None:
        """Move the finished store to its version folder and switch the link at `path` to it in
        one rename (see layout.py: readers of the previous version keep it until they finish).
        A store published in place by an older minisuperb is moved aside first, so a kill
        between the renames leaves no store at `path` rather than a mix."""
        version = version_path(self.path, self.attrs["store_id"])
        os.replace(self.tmp_path, version)
        link = temporary_path(self.path, "link")
        os.symlink(version.name, link)
        old = temporary_path(self.path, "old")
        if self.path.is_dir() and not self.path.is_symlink():
            os.replace(self.path, old)
        os.replace(link, self.path)
        shutil.rmtree(old, ignore_errors=True)
        remove_unused_versions(self.path)

    # --- errors -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError(f"the store writer for {self.path} is closed")

    def _guarded(self, action: str, step, *args) -> None:
        """Run a step that writes to disk; on an OS error remove the partial store and say why."""
        try:
            step(*args)
        except OSError as error:
            used = bytes_on_disk(self.tmp_path)
            buffered = sum(s.buffered_bytes for s in self._splits.values())
            self.abort()
            if error.errno == errno.ENOSPC:
                problem = f"the disk is full (while trying to {action})"
                fix = (f"free at least {_mb(used + buffered)} more on the file system of "
                       f"{self.path.parent}, or point the `results` directory at a larger disk")
            else:
                problem = f"could not {action}: {error}"
                fix = f"check that {self.path.parent} is writable"
            raise StoreError(
                f"feature store {self.path} (model {self.attrs['model']!r}): {problem}. The "
                f"partial store {self.tmp_path} was removed; it had used {_mb(used)} on disk "
                f"plus {_mb(buffered)} in memory so far. To fix: {fix}, then rerun the "
                f"extraction.") from error


def _refuse_reserved(attrs: dict | None, name: str) -> None:
    clashes = RESERVED_ATTRS & set(attrs or {})
    if clashes:
        raise ValueError(f"{name} may not set the store's own keys {sorted(clashes)}")


def _mb(num_bytes: int) -> str:
    return f"{num_bytes / 1e6:.1f} MB"


def _json_safe(attrs: dict) -> dict:
    """Round-trip through JSON so numpy scalars become plain numbers (zarr stores JSON)."""
    return json.loads(json.dumps(attrs, default=_numpy_scalar))


def _numpy_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"store attribute value {value!r} is not JSON serialisable")


def _summary(attrs: dict) -> str:
    splits = ", ".join(f"{name} {s['utterances']} utts / {s['frames']} frames"
                       for name, s in attrs["splits"].items())
    return f"{splits}; {_mb(attrs['bytes_on_disk'])} on disk"
