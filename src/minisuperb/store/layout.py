"""What a feature store looks like on disk, shared by the writer and the reader.

```
<model>/<task>.zarr/                 zarr v3 group; root attributes = the store's attributes
    COMPLETE                         completion marker, written last (JSON: model, model_hash,
                                     files: every other file's size, and sha256 of metadata)
    <split>/features                 [total_frames, layers, dim], utterances concatenated:
                                     float16 values, or (storage uint8) uint8 codes
    <split>/scales                   uint8 only: float32 [total_frames, layers, 2], per frame and
                                     layer: (low, step) of the frame stage
    <split>/channels                 uint8 only: float32 [shards, layers, dim, 2], per shard of
                                     SHARD_FRAMES frames and per channel: (low, range) of the
                                     channel stage
    <split>/offsets                  int64 [utterances + 1]: utterance i is features[o[i]:o[i+1]]
    <split>  (group attribute `ids`) utterance ids, in the order of `offsets`
```

zarr 3 has no ragged arrays, hence one concatenated array plus an offsets index per split.
Every chunk ends with a CRC32C (the shard indexes have their own), so damaged bytes fail the
read; zarr reads a missing chunk file as zeros, hence the file list in the marker.
Stores are written at `<name>.tmp-<host>-<pid>-new` and renamed into place when complete.

Storage (the root attribute `dtype`, chosen per model entry by `storage`):
- `float16`: the values rounded to float16 (relative error <= 2^-11).
- `uint8`: two stages, per shard of SHARD_FRAMES (1024) frames, each layer on its own.
  Channel stage: each channel (layer, dim) is mapped onto [0, 1] by its min and range over the
  shard's frames, y = (x - low_c) / range_c. Frame stage: each frame's y (over the dims) gets
  8-bit codes on its own min and step, code = round((y - low_f) / step_f), step_f =
  (max_f - min_f) / 255. Read back: x = low_c + range_c * (low_f + step_f * code), so the error
  of every value is at most range_c * step_f / 2 <= range_c / 510. The channel stage keeps
  channels that vary little (or sit far from zero) from being drowned by the frame's largest
  channel; the frame stage keeps quiet frames from being drowned by loud ones. A channel constant
  over its shard (e.g. zero padding) reads back exactly. Measured in BENCHMARKS.md, "8-bit
  storage".
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import re
import socket
from pathlib import Path

import numpy as np
import zarr.codecs

# 2: chunk checksums and the marker's file list. 3: the `uint8` storage (a store's `dtype` says
# which; format 2 stores are all float16 and still read). Readers refuse other versions, and
# readers of format 2 refuse format 3 stores, which they would misread.
FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)
MARKER = "COMPLETE"
METADATA_FILE = "zarr.json"  # zarr checksums no metadata: the marker keeps their sha256

# Storage of the feature values (a model entry's `storage`; the store's `dtype` attribute), and
# the largest magnitude each can hold: float16's range; for uint8, what keeps max - min finite
# in float32.
STORAGES = {"float16": float(np.finfo(np.float16).max), "uint8": 1e38}
DEFAULT_STORAGE = "float16"
SCALES = "scales"  # the frame scales (low, step) of a uint8 store's split
UINT8_LEVELS = 255

# Codecs measured by bench/bench_store.py (see BENCHMARKS.md, "Feature store"). Byte-shuffle
# groups the float16 exponent bytes together, which is where the redundancy is; on uint8 codes
# it does nothing (one byte per value) and zstd's entropy stage does the work.
CODECS = {
    "none": None,
    "lz4": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle"},
    "zstd": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle"},
}
DEFAULT_CODEC = "zstd"


def compressors(codec: str, typesize: int) -> tuple:
    """The bytes-to-bytes codecs of an array of `typesize`-byte items: the compressor, then the
    checksum of the compressed bytes (checked before decompressing, so damage never reaches the
    decompressor)."""
    settings = CODECS[codec]
    compressor = zarr.codecs.BloscCodec(**settings, typesize=typesize) if settings else None
    return (*([compressor] if compressor else []), zarr.codecs.Crc32cCodec())


# Frames per shard (one file): the writer buffers a whole shard and writes it once, because a
# partial write to a shard rewrites the shard. Frames per inner chunk (the unit of decompression):
# a 400-frame utterance touches ~7 chunks; a pooled (SID) utterance is one frame, so its chunks
# are small to keep one read from decompressing many neighbours.
SHARD_FRAMES = 1024
CHUNK_FRAMES = 64
POOLED_CHUNK_FRAMES = 8
# The channel scales of a uint8 store: one chunk per shard of frames, CHANNEL_ROWS chunks per file.
CHANNELS = "channels"
CHANNEL_ROWS = 64


def quantise(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One shard (at most SHARD_FRAMES frames) of float32 `[frames, layers, dim]` -> the uint8
    storage's (codes uint8 `[frames, layers, dim]`, frame scales float32 `[frames, layers, 2]`
    = (low, step), channel scales float32 `[layers, dim, 2]` = (low, range)); see above."""
    block = np.asarray(block, dtype=np.float32)
    low_c = block.min(axis=0)
    range_c = _span(low_c, block.max(axis=0))
    normed = block - low_c  # [0, 1] after the scaling
    normed *= _reciprocal(range_c)
    low_f = normed.min(axis=2)
    step_f = _span(low_f, normed.max(axis=2)) / np.float32(UINT8_LEVELS)
    normed -= low_f[..., None]
    normed *= _reciprocal(step_f)[..., None]
    np.rint(normed, out=normed)
    np.clip(normed, 0, UINT8_LEVELS, out=normed)
    return (normed.astype(np.uint8), np.stack([low_f, step_f], axis=-1),
            np.stack([low_c, range_c], axis=-1))


def _span(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """high - low in float32, without overflow (values are within STORAGES["uint8"]); a span
    whose reciprocal would not be finite counts as 0 (a constant: read back as `low`)."""
    span = (high.astype(np.float64) - low).astype(np.float32)
    span[span < 1e-30] = 0
    return span


def _reciprocal(span: np.ndarray) -> np.ndarray:
    return np.divide(1, span, out=np.zeros_like(span), where=span > 0)


def dequantise(codes: np.ndarray, scales: np.ndarray, channels: np.ndarray,
               first_frame: int) -> np.ndarray:
    """Codes `[frames, layers, dim]` of the frames from `first_frame` on, their frame scales
    `[frames, layers, 2]`, and the channel scales `[shards, layers, dim, 2]` of the shards they
    span (from shard first_frame // SHARD_FRAMES on) -> float32 values."""
    values = np.multiply(codes, scales[..., 1:2], dtype=np.float32)
    values += scales[..., 0:1]
    first_shard = first_frame // SHARD_FRAMES
    last_shard = (first_frame + len(codes) - 1) // SHARD_FRAMES
    for row, shard in enumerate(range(first_shard, last_shard + 1)):
        start = max(shard * SHARD_FRAMES - first_frame, 0)
        stop = min((shard + 1) * SHARD_FRAMES - first_frame, len(codes))
        values[start:stop] *= channels[row, ..., 1]
        values[start:stop] += channels[row, ..., 0]
    return values


_TMP_PATTERN = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-(?:new|old)$")


def chunk_frames(pooled: bool) -> int:
    return POOLED_CHUNK_FRAMES if pooled else CHUNK_FRAMES


def temporary_path(path: Path, role: str = "new") -> Path:
    """A sibling of `path` on the same file system (so `os.replace` is atomic), owned by this
    process: `new` is the store being written, `old` a replaced store about to be deleted."""
    return path.with_name(f"{path.name}.tmp-{socket.gethostname()}-{os.getpid()}-{role}")


def leftover_paths(path: Path) -> list[Path]:
    """Temporary siblings of `path` left by writers that are no longer running on this host
    (killed mid-extraction, or on another host: Snakemake never runs two jobs for one output)."""
    leftovers = []
    for candidate in sorted(path.parent.glob(f"{_glob_escape(path.name)}.tmp-*")):
        match = _TMP_PATTERN.search(candidate.name[len(path.name) :])
        if match is None:
            continue
        if match["host"] == socket.gethostname() and _process_alive(int(match["pid"])):
            continue
        leftovers.append(candidate)
    return leftovers


# Snakemake 9.27 removes the whole .snakemake/locks folder when any run ends (persistence/file.py,
# `_delete_locks`), so a second run in the same folder can then replace a store that a first
# run's training job is reading (no upstream report found in snakemake/snakemake's issues).
# The workflow protects its own stores instead: a published store is a symlink `<name>` to its
# version folder `<name>.v-<store_id>`, which is never modified. Publishing switches the link
# atomically; readers hold a shared lock on `<version>.readers` while they read; a version is
# deleted only when no reader holds it. Snakemake deleting the `directory()` output before a
# rerun removes only the link.
log = logging.getLogger(__name__)


def version_path(path: Path, store_id: str) -> Path:
    return path.with_name(f"{path.name}.v-{store_id}")


def reader_lock_path(version: Path) -> Path:
    return version.with_name(f"{version.name}.readers")


def hold_read_lock(version: Path):
    """A shared lock on `version`, held until the returned file is closed (or garbage-collected,
    or the process ends): the version is not deleted while it is held."""
    handle = open(reader_lock_path(version), "a")  # noqa: SIM115 (the lock lives with the handle)
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def remove_unused_versions(path: Path) -> None:
    """Delete the versions of the store at `path` that it no longer links to and nobody reads."""
    current = Path(os.path.realpath(path)).name
    for version in sorted(path.parent.glob(f"{_glob_escape(path.name)}.v-*")):
        if version.name == current or version.name.endswith(".readers"):
            continue
        fd = os.open(reader_lock_path(version), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("keeping %s: a running job still reads it (removed by a later extraction)", version)
            continue
        else:
            shutil.rmtree(version, ignore_errors=True)
            os.unlink(reader_lock_path(version))
        finally:
            os.close(fd)


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def file_sizes(root: Path) -> dict[str, int]:
    """{path relative to `root`: size} of the files under `root`."""
    sizes = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory, name)
            try:
                sizes[path.relative_to(root).as_posix()] = path.stat().st_size
            except FileNotFoundError:  # a zarr write-then-rename in flight
                pass
    return sizes


def bytes_on_disk(root: Path) -> int:
    """Sum of the sizes of the files under `root` (what `du --apparent-size` counts)."""
    return sum(file_sizes(root).values())


def file_list(root: Path) -> dict[str, dict]:
    """What the marker records of a finished store: every file's size, and the sha256 of the
    metadata files (the chunks carry their own checksums)."""
    return {
        name: {"bytes": size, **({"sha256": sha256(root / name)}
                                 if Path(name).name == METADATA_FILE else {})}
        for name, size in sorted(file_sizes(root).items()) if name != MARKER
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
