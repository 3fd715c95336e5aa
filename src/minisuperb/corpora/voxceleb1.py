"""VoxCeleb1 speaker identification (SID).

Layout: the dev and test archives unpack to separate trees, `<root>/*/wav/idXXXXX/VIDEO/NNNNN.wav`
(e.g. `vox1_dev_wav/wav/...` and `vox1_test_wav/wav/...`); `iden_split.txt` lists
`1|2|3 idXXXXX/VIDEO/NNNNN.wav` (1 train, 2 dev, 3 test) relative to any of the `wav` trees.
"""

from __future__ import annotations

import re
from pathlib import Path

from minisuperb.corpora.audio import find_audio, read_infos
from minisuperb.corpora.manifest import check_splits, require_dir, require_file
from minisuperb.errors import MinisuperbError

SPLIT_OF_CODE = {"1": "train", "2": "dev", "3": "test"}
LISTED_PATH = re.compile(r"id1\d{4}/[^/]+/[^/]+\.wav")  # VoxCeleb1 ids are id10001..id11251
FIRST_SPEAKER = 10001  # s3prl's label: int(id[2:]) - 10001, so id10001 is class 0


def read_voxceleb1(settings: dict, threads: int = 1) -> dict[str, list[dict]]:
    root = require_dir(settings["root"], "the SID corpus root (config key data.sid.root)")
    split_file = require_file(root / settings["split_file"], "the SID split file (config key data.sid.split_file)")
    listed = read_split_file(split_file)
    located = _locate_wavs(root)
    missing = [rel for rels in listed.values() for rel in rels if rel not in located]
    if missing:
        raise MinisuperbError(
            f"{len(missing)} files listed in {split_file} are not under {root}/*/wav, e.g. "
            f"{', '.join(missing[:3])}. Unpack both the dev and the test archive into {root}."
        )
    splits = {split: _records(rels, located, threads) for split, rels in listed.items()}
    check_splits(
        splits,
        {split: f"SID split '{split}' (from {split_file})" for split in splits},
        f"List each file once in {split_file}, under one code (1 train, 2 dev, 3 test).",
    )
    return splits


def read_split_file(path: Path) -> dict[str, list[str]]:
    """{split: relative wav paths} from an `iden_split.txt`-style file."""
    listed: dict[str, list[str]] = {split: [] for split in SPLIT_OF_CODE.values()}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[0] not in SPLIT_OF_CODE or not LISTED_PATH.fullmatch(fields[1]):
            raise MinisuperbError(
                f"line {number} of the split file {path} is '{line.strip()}'; expected "
                "'1|2|3 idXXXXX/VIDEO/NNNNN.wav' (1 train, 2 dev, 3 test) as in iden_split.txt."
            )
        listed[SPLIT_OF_CODE[fields[0]]].append(fields[1])
    return listed


def _locate_wavs(root: Path) -> dict[str, Path]:
    """{path relative to its `wav` tree: absolute path} over every `<root>/*/wav` tree."""
    trees = sorted(path for path in root.glob("*/wav") if path.is_dir())
    if not trees:
        raise MinisuperbError(
            f"no <root>/*/wav folder in the SID corpus root {root} (config key data.sid.root). "
            "Expected e.g. vox1_dev_wav/wav/idXXXXX/VIDEO/NNNNN.wav."
        )
    located: dict[str, Path] = {}
    for tree in trees:
        for path in find_audio(tree):
            rel = path.relative_to(tree).as_posix()
            if rel in located:
                raise MinisuperbError(f"{rel} is in two wav trees: {located[rel]} and {path}. Keep one copy.")
            located[rel] = path
    return located


def _records(rels: list[str], located: dict[str, Path], threads: int) -> list[dict]:
    paths = [located[rel] for rel in rels]
    records = []
    for rel, path, info in zip(rels, paths, read_infos(paths, threads)):
        speaker = rel.split("/")[0]
        records.append({
            "id": rel.removesuffix(".wav").replace("/", "-"),  # ids stay file-name safe
            "path": str(path),
            "num_samples": info.num_samples_16k,
            "sample_rate": info.sample_rate,
            "speaker": speaker,
            "label": int(speaker[2:]) - FIRST_SPEAKER,
        })
    records.sort(key=lambda record: record["id"])
    return records
