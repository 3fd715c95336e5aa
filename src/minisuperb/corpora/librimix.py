"""Libri2Mix speech separation (SS).

Layout: `<root>/<rate>/<mode>/{train-100,dev,test}/{mix_clean,s1,s2}/MIXTURE_ID.wav` and
`<root>/<rate>/<mode>/metadata/mixture_<part>_mix_clean.csv` with the columns
`mixture_ID,mixture_path,source_1_path,source_2_path,length`. The CSV paths are absolute paths
of the machine that generated the mixtures, so they are re-rooted: the part after `<rate>/<mode>/`
is joined to the local `<root>/<rate>/<mode>`. `length` (samples at the corpus rate) gives the
duration without opening any audio file.

A mixture id is `<utterance 1>_<utterance 2>` (LibriSpeech ids `SPEAKER-CHAPTER-UTT`); a mixture's
`speaker` (its class for stratified and few-shot sampling) is the speaker of source 1, and
`speakers` lists both.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePath

from minisuperb.corpora.audio import TARGET_RATE
from minisuperb.corpora.manifest import check_splits, require_dir, require_file
from minisuperb.errors import MinisuperbError

PART_OF_SPLIT = {"train": "train-100", "dev": "dev", "test": "test"}
COLUMNS = ("mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length")
RATE_OF_FOLDER = {"wav8k": 8000, "wav16k": 16000}
WAV_HEADER_BYTES = 44  # a file no larger than this holds no samples


def read_librimix(settings: dict, threads: int = 1) -> dict[str, list[dict]]:
    """`threads` is unused: the CSVs give every length, so no audio header is read."""
    root = require_dir(settings["root"], "the SS corpus root (config key data.ss.root)")
    corpus = require_dir(
        root / settings["rate"] / settings["mode"],
        "the Libri2Mix folder for config keys data.ss.rate/data.ss.mode",
    )
    sample_rate = RATE_OF_FOLDER[settings["rate"]]
    splits, where = {}, {}
    for split, part in PART_OF_SPLIT.items():
        csv_path = require_file(corpus / "metadata" / f"mixture_{part}_mix_clean.csv", f"the Libri2Mix {split} metadata CSV")
        records = [_record(row, corpus, sample_rate, csv_path, line) for line, row in _rows(csv_path)]
        records.sort(key=lambda record: record["id"])
        _check_files(records, csv_path)
        splits[split], where[split] = records, f"SS split '{split}' ({csv_path})"
    check_splits(
        splits, where, "Each mixture belongs to one part: regenerate the metadata CSVs or remove the duplicate rows."
    )
    return splits


def _rows(csv_path: Path):
    """(line number, row) of a metadata CSV, after checking its columns."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        absent = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
        if absent:
            raise MinisuperbError(
                f"the Libri2Mix metadata CSV {csv_path} lacks the columns {', '.join(absent)} "
                f"(found: {', '.join(reader.fieldnames or [])}). Use the mixture_*_mix_clean.csv files."
            )
        yield from enumerate(reader, start=2)


def _record(row: dict, corpus: Path, sample_rate: int, csv_path: Path, line: int) -> dict:
    where = f"{csv_path} line {line}"
    try:
        length = int(row["length"])
    except (TypeError, ValueError):
        length = 0
    if length <= 0:
        raise MinisuperbError(f"{where}: length '{row['length']}' is not a positive sample count.")
    utterances = row["mixture_ID"].split("_")
    return {
        "id": row["mixture_ID"],
        "path": str(reroot(row["mixture_path"], corpus, where)),
        "source_paths": [str(reroot(row[f"source_{i}_path"], corpus, where)) for i in (1, 2)],
        "num_samples": -(-length * TARGET_RATE // sample_rate),
        "sample_rate": sample_rate,
        "speaker": utterances[0].split("-")[0],
        "speakers": [utterance.split("-")[0] for utterance in utterances],
    }


def reroot(foreign_path: str, corpus: Path, where: str) -> Path:
    """`/any/machine/Libri2Mix/wav16k/min/dev/s1/X.wav` -> `<corpus>/dev/s1/X.wav`, where
    `corpus` is the local `<root>/<rate>/<mode>`."""
    parts = PurePath(foreign_path.replace("\\", "/")).parts
    marker = (corpus.parent.name, corpus.name)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index : index + 2] == marker:
            return corpus.joinpath(*parts[index + 2 :])
    raise MinisuperbError(
        f"{where}: path {foreign_path} does not contain '{'/'.join(marker)}/', so it cannot be "
        "re-rooted to the local corpus. Use the CSVs generated for this rate and mode."
    )


def _check_files(records: list[dict], csv_path: Path) -> None:
    """Every listed file exists and holds more than a WAV header (one `stat` each, no decoding)."""
    sizes = {
        path: os.stat(path).st_size if os.path.isfile(path) else None
        for record in records
        for path in (record["path"], *record["source_paths"])
    }
    missing = [path for path, size in sizes.items() if size is None]
    if missing:
        raise MinisuperbError(
            f"{len(missing)} audio files listed in {csv_path} are missing, e.g. "
            f"{', '.join(missing[:3])}. Generate or copy the Libri2Mix audio for this part."
        )
    empty = [path for path, size in sizes.items() if size <= WAV_HEADER_BYTES]
    if empty:
        raise MinisuperbError(
            f"{len(empty)} audio files listed in {csv_path} are empty, e.g. {', '.join(empty[:3])}. "
            "Regenerate them."
        )
