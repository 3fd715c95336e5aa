"""Manifests and subset lists: the files that connect the data stage to the rest of the DAG.

- A manifest (`results/data/<task>/manifest/<split>.jsonl`) has one JSON object per utterance,
  keys sorted: `id`, `num_samples` (at 16 kHz), `sample_rate` (of the file on disk), audio
  paths (absolute) and the task's labels.
- A subset list (`results/data/<task>/subsets/<sampling>/seed<seed>/<split>.txt`) is plain
  text, one utterance id per line. It holds no paths, so the same config gives byte-identical
  lists on any machine. Beside the lists, `lists.json` records each list's number of ids and
  sha256 (written last): a list cut exactly at a line end is still a valid list, and only that
  record tells it from the one `subsample` wrote.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Iterable

from minisuperb.catalog import SPLITS
from minisuperb.errors import MinisuperbError
from minisuperb.files import write_json_atomic, write_text_atomic


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


def read_ids(path: str | Path) -> list[str]:
    """The ids of a list people write (`sampling.paper.<task>.ids`), one per line; the last line
    needs no newline. The workflow's own subset lists are read with `read_subset_list`."""
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"id list {path} does not exist.")
    return _ids(path.read_text(encoding="utf-8"))


def _ids(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# The record of a subset folder's lists: {split: {"ids": count, "sha256": hex digest}}.
SUBSET_RECORD = "lists.json"


def write_subset(subsets: dict[str, list[str]], folder: str | Path) -> None:
    """Write a subset folder: one list per split, then the record of their lengths and sha256
    (last, so that a record always describes complete lists). Both are written atomically."""
    folder = Path(folder)
    for split in SPLITS:
        write_text_atomic(folder / f"{split}.txt", _list_text(subsets[split]))
    write_json_atomic(folder / SUBSET_RECORD, subset_record(subsets))


def subset_record(subsets: dict[str, list[str]]) -> dict:
    """{split: {"ids": count, "sha256": of the list file}}: what SUBSET_RECORD holds."""
    return {split: {"ids": len(subsets[split]), "sha256": hashlib.sha256(_list_text(subsets[split]).encode("utf-8")).hexdigest()}
            for split in SPLITS}


def _list_text(ids: list[str]) -> str:
    return "".join(f"{utt_id}\n" for utt_id in ids)


def read_subset_list(folder: str | Path, split: str) -> list[str]:
    """The ids of a subset list the workflow wrote (`write_subset`), checked against the record
    beside it: a list cut short (at a line end or not), edited or overwritten is an error
    naming the file, what is wrong and the fix, never a shorter list read in silence."""
    folder = Path(folder)
    path, record_path = folder / f"{split}.txt", folder / SUBSET_RECORD
    if not path.is_file():
        raise MinisuperbError(f"subset list {path} does not exist. Run the data stage first.")
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    if data and not data.endswith(b"\n"):
        raise _damaged(path, f"its last line ({text.splitlines()[-1]!r}) has no newline")
    expected = _subset_record(record_path).get(split)
    if not isinstance(expected, dict) or not {"ids", "sha256"} <= set(expected):
        raise _damaged(record_path, f"it has no entry for the {split} list")
    ids = _ids(text)
    if len(ids) != expected["ids"]:
        raise _damaged(path, f"it lists {len(ids)} ids, but `subsample` wrote {expected['ids']} "
                             f"(as {record_path.name} beside it records)")
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise _damaged(path, f"its ids differ from the ones `subsample` wrote (its sha256 is not "
                             f"the one {record_path.name} beside it records)")
    return ids


def _subset_record(path: Path) -> dict:
    if not path.is_file():
        raise MinisuperbError(
            f"{path} does not exist: it records the length and checksum of each subset list beside "
            f"it, and `subsample` writes it last (the lists were written by an older minisuperb, or "
            f"the job was interrupted). {REWRITE_DATA_STAGE}."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _damaged(path, f"it is not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise _damaged(path, "it is not a JSON object")
    return record


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
