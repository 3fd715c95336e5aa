"""Result files written atomically: a temporary sibling renamed into place, so that a killed job
never leaves a half-written file that Snakemake, a later stage or a resumed job would take as
complete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

TMP_SUFFIX = ".tmp"


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` to fill a temporary sibling of `path`, then rename it to `path`.
    Callers bring their own serialiser (e.g. `torch.save`), so this module needs no torch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    write(tmp)
    tmp.replace(path)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, value) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
