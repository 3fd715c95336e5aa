"""What a feature store looks like on disk, shared by the writer and the reader.

```
<model>/<task>.zarr/                 zarr v3 group; root attributes = the store's attributes
    COMPLETE                         completion marker, written last (JSON: model, model_hash,
                                     files: every other file's size, and sha256 of metadata)
    <split>/features                 [total_frames, layers, dim], utterances concatenated:
                                     float16 values, or (storage uint8) uint8 codes
    <split>/scales                   storage uint8 only: float32 [total_frames, layers, 2], the
                                     (low, step) of each frame of each layer: value = low + code * step
    <split>/offsets                  int64 [utterances + 1]: utterance i is features[o[i]:o[i+1]]
    <split>  (group attribute `ids`) utterance ids, in the order of `offsets`
```

zarr 3 has no ragged arrays, hence one concatenated array plus an offsets index per split.
Every chunk ends with a CRC32C (the shard indexes have their own), so damaged bytes fail the
read; zarr reads a missing chunk file as zeros, hence the file list in the marker.
Stores are written at `<name>.tmp-<host>-<pid>-new` and renamed into place when complete.

Storage (the root attribute `dtype`, chosen per model entry by `storage`):
- `float16`: the values rounded to float16 (relative error <= 2^-11).
- `uint8`: each frame of each layer is quantised on its own range: low = min, step =
  (max - min) / 255, code = round((value - low) / step), read back as low + code * step, so the
  error of every value is at most step / 2 = (max - min) / 510 of its own frame and layer.
  A constant frame (max = min, e.g. all zeros) has step 0 and is read back exactly. Per-frame
  ranges keep the error relative to each frame, whatever the loudness of the frame or utterance;
  and the featurizer's per-frame layer-norm maps low + code * step to the same output as the
  codes alone, so the rounding of `low` and `step` never reaches a multi-layer head.
  See BENCHMARKS.md, "8-bit storage".
"""

from __future__ import annotations

import hashlib
import os
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
SCALES = "scales"  # the (low, step) array of a uint8 store's split
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


def quantise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 `[frames, layers, dim]` -> (uint8 codes, same shape; float32 scales
    `[frames, layers, 2]` = (low, step)) for the `uint8` storage; see the module docstring."""
    rows = np.asarray(rows, dtype=np.float32)
    low, high = rows.min(axis=2), rows.max(axis=2)
    step = ((high.astype(np.float64) - low) / UINT8_LEVELS).astype(np.float32)
    # A range too small for a finite reciprocal is stored as constant (error < 255 * 1.2e-38).
    step[step < np.finfo(np.float32).tiny] = 0
    inverse = np.divide(1, step, out=np.zeros_like(step), where=step > 0)
    scaled = rows - low[..., None]
    scaled *= inverse[..., None]
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, UINT8_LEVELS, out=scaled)
    return scaled.astype(np.uint8), np.stack([low, step], axis=-1)


def dequantise(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """uint8 codes `[frames, layers, dim]` and their scales `[frames, layers, 2]` -> float32."""
    values = np.multiply(codes, scales[..., 1:2], dtype=np.float32)
    values += scales[..., 0:1]
    return values


# Frames per shard (one file): the writer buffers a whole shard and writes it once, because a
# partial write to a shard rewrites the shard. Frames per inner chunk (the unit of decompression):
# a 400-frame utterance touches ~7 chunks; a pooled (SID) utterance is one frame, so its chunks
# are small to keep one read from decompressing many neighbours.
SHARD_FRAMES = 1024
CHUNK_FRAMES = 64
POOLED_CHUNK_FRAMES = 8

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
