"""Manifests and subset lists: the files that connect the data stage to the rest of the DAG.

- A manifest (`results/data/<task>/manifest/<split>.jsonl`) has one JSON object per utterance,
  keys sorted: `id`, `num_samples` (at 16 kHz), `sample_rate` (of the file on disk), audio
  paths (absolute) and the task's labels.
- A subset list (`results/data/<task>/subsets/<sampling>/seed<seed>/<split>.txt`) is plain
  text, one utterance id per line. It holds no paths, so the same config gives byte-identical
  lists on any machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from minisuperb.errors import MinisuperbError


def write_manifest(records: Iterable[dict], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(record, sort_keys=True, ensure_ascii=False) for record in records]
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return len(lines)


def read_manifest(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"manifest {path} does not exist. Run the data stage first.")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_ids(ids: Iterable[str], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(f"{utt_id}\n" for utt_id in ids), encoding="utf-8")
    tmp.replace(path)


def read_ids(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"subset list {path} does not exist. Run the data stage first.")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def select(records: list[dict], ids: Iterable[str], where: str = "") -> list[dict]:
    """The records of `ids`, in the order of `ids`; an id missing from the manifest is an error."""
    by_id = {record["id"]: record for record in records}
    missing = [utt_id for utt_id in ids if utt_id not in by_id]
    if missing:
        raise MinisuperbError(
            f"{len(missing)} ids of {where or 'the subset list'} are not in the manifest "
            f"(first: {missing[0]}). The subset is stale: rerun the data stage."
        )
    return [by_id[utt_id] for utt_id in ids]
