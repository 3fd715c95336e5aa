"""VoiceBank-DEMAND speech enhancement (SE).

Layout: `clean_trainset_28spk_wav/`, `noisy_trainset_28spk_wav/`, `clean_testset_wav/`,
`noisy_testset_wav/` holding `pNNN_MMM.wav` (48 kHz in the original release; the common 16 kHz
copies add `_16k` to the folder names). Noisy and clean files pair up by name. Dev is carved out
of the trainset by speaker (p226 and p287, as in s3prl).
"""

from __future__ import annotations

import logging
from pathlib import Path

from minisuperb.corpora.audio import read_infos
from minisuperb.corpora.manifest import check_splits, require_dir
from minisuperb.errors import MinisuperbError

log = logging.getLogger(__name__)

TRAIN_FOLDERS = ("noisy_trainset_28spk_wav", "clean_trainset_28spk_wav")
TEST_FOLDERS = ("noisy_testset_wav", "clean_testset_wav")
RESAMPLED_SUFFIX = "_16k"


def read_voicebank(settings: dict, threads: int = 1) -> dict[str, list[dict]]:
    root = require_dir(settings["root"], "the SE corpus root (config key data.se.root)")
    trainset = _read_pairs(root, *TRAIN_FOLDERS, threads)
    dev_speakers = set(settings["dev_speakers"])
    unknown = sorted(dev_speakers - {record["speaker"] for record in trainset})
    if unknown:
        raise MinisuperbError(
            f"dev speakers {', '.join(unknown)} (config key data.se.dev_speakers) have no "
            f"utterances in the trainset under {root}. Name speakers of the trainset (pNNN)."
        )
    splits = {
        "train": [record for record in trainset if record["speaker"] not in dev_speakers],
        "dev": [record for record in trainset if record["speaker"] in dev_speakers],
        "test": _read_pairs(root, *TEST_FOLDERS, threads),
    }
    check_splits(
        splits,
        {split: f"SE split '{split}' (under {root})" for split in splits},
        f"A file name is in both the trainset and the testset folders under {root}: remove one copy.",
    )
    return splits


def _folder(root: Path, name: str) -> Path:
    """The 16 kHz copy `<name>_16k` when present (no resampling on load), else the original."""
    for candidate in (root / f"{name}{RESAMPLED_SUFFIX}", root / name):
        if candidate.is_dir():
            return candidate
    raise MinisuperbError(
        f"neither {name}/ nor {name}{RESAMPLED_SUFFIX}/ exists in the SE corpus root {root} "
        "(config key data.se.root). Unpack the VoiceBank-DEMAND archives there."
    )


def _read_pairs(root: Path, noisy_name: str, clean_name: str, threads: int) -> list[dict]:
    noisy_folder, clean_folder = _folder(root, noisy_name), _folder(root, clean_name)
    log.info("SE pairs: %s with %s", noisy_folder, clean_folder)
    noisy = {path.name: path for path in sorted(noisy_folder.glob("*.wav"))}
    clean = {path.name: path for path in sorted(clean_folder.glob("*.wav"))}
    unmatched = sorted(set(noisy) ^ set(clean))
    if unmatched:
        raise MinisuperbError(
            f"{len(unmatched)} files of {noisy_folder} and {clean_folder} have no partner of the "
            f"same name in the other folder, e.g. {', '.join(unmatched[:3])}. Restore or remove them."
        )
    if not noisy:
        raise MinisuperbError(f"{noisy_folder} holds no .wav files. Unpack the VoiceBank-DEMAND archives again.")
    names = sorted(noisy)
    infos = read_infos([noisy[name] for name in names] + [clean[name] for name in names], threads)
    records = []
    for name, noisy_info, clean_info in zip(names, infos[: len(names)], infos[len(names):]):
        if noisy_info != clean_info:
            raise MinisuperbError(
                f"noisy {noisy[name]} ({noisy_info.num_samples} samples at {noisy_info.sample_rate} Hz) "
                f"and clean {clean[name]} ({clean_info.num_samples} at {clean_info.sample_rate} Hz) "
                "differ in length, rate or channels; a pair must match sample for sample. Re-extract both."
            )
        stem = Path(name).stem
        records.append({
            "id": stem,
            "path": str(noisy[name]),
            "clean_path": str(clean[name]),
            "num_samples": noisy_info.num_samples_16k,
            "sample_rate": noisy_info.sample_rate,
            "speaker": stem.split("_")[0],
        })
    return records
