"""What a feature store looks like on disk, shared by the writer and the reader.

```
<model>/<task>.zarr/                 zarr v3 group; root attributes = the store's attributes
    COMPLETE                         completion marker, written last (JSON: model, model_hash)
    <split>/features                 float16 [total_frames, layers, dim], utterances concatenated
    <split>/offsets                  int64 [utterances + 1]: utterance i is features[o[i]:o[i+1]]
    <split>  (group attribute `ids`) utterance ids, in the order of `offsets`
```

zarr 3 has no ragged arrays, hence one concatenated array plus an offsets index per split.
Stores are written at `<name>.tmp-<host>-<pid>-new` and renamed into place when complete.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import zarr.codecs

FORMAT_VERSION = 1
MARKER = "COMPLETE"
DISK_DTYPE = "float16"

# Codecs measured by bench/bench_store.py (see BENCHMARKS.md, "Feature store"). Byte-shuffle
# groups the float16 exponent bytes together, which is where the redundancy is.
CODECS = {
    "none": None,
    "lz4": zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle", typesize=2),
    "zstd": zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=2),
}
DEFAULT_CODEC = "zstd"

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


def bytes_on_disk(root: Path) -> int:
    """Sum of the sizes of the files under `root` (what `du --apparent-size` counts)."""
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(directory, name))
            except FileNotFoundError:  # a zarr write-then-rename in flight
                pass
    return total
