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
from collections import Counter
from pathlib import Path
from typing import Iterable

from minisuperb.errors import MinisuperbError
from minisuperb.files import write_text_atomic


def write_lines(lines: Iterable[str], path: str | Path) -> int:
    """Write one line per item through a temporary sibling renamed into place, so a killed job
    never leaves a half-written file; returns the number of lines."""
    lines = list(lines)
    write_text_atomic(path, "".join(f"{line}\n" for line in lines))
    return len(lines)


def write_manifest(records: Iterable[dict], path: str | Path) -> int:
    return write_lines((json.dumps(record, sort_keys=True, ensure_ascii=False) for record in records), path)


# How to rewrite the data stage's files (manifests, subset lists, extraction lists) after one was
# damaged. Their consumers are then not rerun: Snakemake compares the rewritten inputs with the
# checksums it recorded (files under its --max-checksum-file-size, 1 MB by default).
REWRITE_DATA_STAGE = (
    "Rewrite the data stage's files with `snakemake data --forcerun prepare` (plus your usual "
    "--configfile/--profile), then rerun snakemake"
)


def read_manifest(path: str | Path) -> list[dict]:
    """The records of a manifest; a line that is not a JSON object, or a last line without its
    newline (the file was cut short), is an error naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"manifest {path} does not exist. Run the data stage first.")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            record, problem = None, f"is not valid JSON ({error.msg})"
        else:
            problem = "is not a JSON object with an 'id'"
        if not isinstance(record, dict) or "id" not in record:
            raise _damaged(path, f"line {number} {problem}")
        records.append(record)
    if text and not text.endswith("\n"):
        raise _damaged(path, f"its last line ({len(lines)}) has no newline")
    return records


def _damaged(path: Path, problem: str) -> MinisuperbError:
    return MinisuperbError(
        f"{path} is damaged: {problem}, so the file was cut short or overwritten (a full disk, "
        f"a killed copy). {REWRITE_DATA_STAGE}."
    )


def write_ids(ids: Iterable[str], path: str | Path) -> None:
    write_lines(ids, path)


def read_ids(path: str | Path, whole_lines: bool = False) -> list[str]:
    """The ids of a list, one per line. `whole_lines`: the list was written by the workflow
    (`write_ids` ends every line with a newline), so a last line without one means it was cut
    short; lists people write (`sampling.paper.<task>.ids`) need no final newline."""
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"subset list {path} does not exist. Run the data stage first.")
    text = path.read_text(encoding="utf-8")
    if whole_lines and text and not text.endswith("\n"):
        raise _damaged(path, f"its last line ({text.splitlines()[-1]!r}) has no newline")
    return [line.strip() for line in text.splitlines() if line.strip()]


def select(records: list[dict], ids: Iterable[str], where: str = "") -> list[dict]:
    """The records of `ids`, in the order of `ids`; an id missing from the manifest is an error."""
    by_id = {record["id"]: record for record in records}
    missing = [utt_id for utt_id in ids if utt_id not in by_id]
    if missing:
        raise MinisuperbError(
            f"{len(missing)} ids of {where or 'the subset list'} are not in the manifest "
            f"(first: {missing[0]}). The list is stale or damaged (e.g. cut short). "
            f"{REWRITE_DATA_STAGE}."
        )
    return [by_id[utt_id] for utt_id in ids]


def require_dir(path: str | Path, what: str) -> Path:
    """`path` as an absolute folder; a missing one is an error naming `what` (the config key)."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise MinisuperbError(
            f"{what} {path} does not exist or is not a folder. Point it at the unpacked corpus."
        )
    return path


def require_file(path: str | Path, what: str) -> Path:
    path = Path(path).resolve()
    if not path.is_file():
        raise MinisuperbError(f"{what} {path} does not exist. Check the path in the config.")
    return path


def check_splits(splits: dict[str, list[dict]], where: dict[str, str], fix: str) -> None:
    """Every reader's last step: each split passes `check_split`, and no utterance id is in two
    splits (a corpus listing one file as train and test would leak test data into training).
    `where[split]` names the split's source (corpus file or folders); `fix` says how to
    separate the splits in that corpus."""
    for split, records in splits.items():
        check_split(records, where[split])
    first_seen: dict[str, tuple[str, str]] = {}
    shared = []
    for split, records in splits.items():
        for record in records:
            first_split, first_path = first_seen.setdefault(record["id"], (split, record["path"]))
            if first_split != split:
                shared.append((record["id"], first_split, first_path, split, record["path"]))
    if shared:
        utt_id, first_split, first_path, split, path = shared[0]
        raise MinisuperbError(
            f"{len(shared)} utterance ids occur in two splits, e.g. {utt_id} is in {where[first_split]} "
            f"as {first_path} and in {where[split]} as {path}; an utterance must not be both trained "
            f"and evaluated on. {fix}"
        )


def check_split(records: list[dict], where: str) -> None:
    """A split must be non-empty, have unique ids and one sample rate. `audio.load` resamples
    any rate, but a split mixing rates is almost always a half-converted copy of the corpus."""
    if not records:
        raise MinisuperbError(f"{where} has no utterances. Check the corpus folder and the config.")
    duplicates = [utt_id for utt_id, count in Counter(r["id"] for r in records).items() if count > 1]
    if duplicates:
        paths = [r["path"] for r in records if r["id"] == duplicates[0]]
        raise MinisuperbError(
            f"{where}: {len(duplicates)} utterance ids occur more than once, e.g. {duplicates[0]} "
            f"at {' and '.join(paths)}. List each corpus folder only once."
        )
    rates = Counter(r["sample_rate"] for r in records)
    if len(rates) > 1:
        rare = min(rates, key=lambda rate: (rates[rate], rate))
        example = next(r["path"] for r in records if r["sample_rate"] == rare)
        counts = ", ".join(f"{count} files at {rate} Hz" for rate, count in sorted(rates.items()))
        raise MinisuperbError(
            f"{where} mixes sample rates ({counts}; e.g. {example} is at {rare} Hz). "
            "Use one copy of the corpus, all at one rate (16 kHz or the originals)."
        )
