"""Small result files written atomically: a temporary sibling renamed into place, so that a killed
job never leaves a half-written file that Snakemake or a later stage would take as complete."""

from __future__ import annotations

import json
from pathlib import Path

TMP_SUFFIX = ".tmp"


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_json_atomic(path: str | Path, value) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
