"""Result files written atomically: a temporary sibling renamed into place, so that a killed job
never leaves a half-written file that Snakemake, a later stage or a resumed job would take as
complete."""

from __future__ import annotations

import errno
import json
import shutil
from collections.abc import Callable
from pathlib import Path

TMP_SUFFIX = ".tmp"


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` to fill a temporary sibling of `path`, then rename it to `path`.
    Callers bring their own serialiser (e.g. `torch.save`), so this module needs no torch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException as error:
        # Serialisers report a full disk in their own ways (torch.save: a RuntimeError naming no
        # errno), so look at the disk itself before the partial file is removed.
        disk_full = _disk_full(error, path.parent)
        tmp.unlink(missing_ok=True)
        if disk_full:
            raise OSError(errno.ENOSPC, f"No space left on device while writing {path.name} "
                          f"({type(error).__name__}: {error})", str(path)) from error
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, value) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


# Less free space than this after a failed write: the write failed because the disk is full.
FULL_DISK_BYTES = 1 << 20


def _disk_full(error: BaseException, folder: Path) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not isinstance(error, (OSError, RuntimeError)):
        return False
    try:
        return shutil.disk_usage(folder).free < FULL_DISK_BYTES
    except OSError:
        return False
