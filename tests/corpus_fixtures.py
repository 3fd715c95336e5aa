"""Tiny corpora in the four real on-disk layouts (SPEC section 4), for tests of any stage.

Each writer fills `root` with short noise-plus-sine files and returns what it wrote (ids per
split), so tests can check readers against it. Sizes are tiny on purpose: a whole corpus is
written in well under a second.

    from corpus_fixtures import write_librispeech, write_voxceleb1, write_voicebank, write_libri2mix
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

# LibriSpeech-style transcripts, with the apostrophes the real corpus has.
WORDS = ("HELLO", "WORLD", "DON'T", "IT'S", "THE", "CAT", "SAT", "O'ER", "MAN'S", "BOOK")
FOREIGN_LIBRI2MIX_ROOT = "/gpfs/someone/else/Libri2Mix"  # where the CSV paths point before re-rooting


def write_audio(path: Path, num_samples: int, rate: int = 16000, seed: int = 0) -> Path:
    """A sine plus a little noise; the format follows the suffix (.wav 16-bit PCM, .flac)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / rate
    wav = 0.3 * np.sin(2 * np.pi * (150 + 10 * (seed % 20)) * t) + 0.02 * rng.standard_normal(num_samples)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav.astype(np.float32), rate, subtype="PCM_16")
    return path


def _length(seed: int, rate: int, seconds: tuple[float, float] = (0.2, 0.4)) -> int:
    low, high = seconds
    return int(rate * (low + (high - low) * ((seed * 7919) % 100) / 100))


def write_librispeech(
    root: Path,
    folder: str = "train-clean-100",
    speakers: tuple[str, ...] = ("103", "1034"),
    chapters: int = 1,
    utterances: int = 3,
    suffix: str = ".flac",
) -> dict[str, str]:
    """`root/folder/SPK/CHAP/SPK-CHAP-UTT<suffix>` + `SPK-CHAP.trans.txt`; returns {id: transcript}.
    `folder` may be nested, e.g. `librispeech_finetuning/1h/0/clean`."""
    written = {}
    for s, speaker in enumerate(speakers):
        for c in range(chapters):
            chapter = str(1240 + 100 * s + c)
            chapter_dir = Path(root) / folder / speaker / chapter
            lines = []
            for u in range(utterances):
                utt_id = f"{speaker}-{chapter}-{u:04d}"
                seed = len(written) + sum(map(ord, folder))  # stable across processes (unlike hash)
                write_audio(chapter_dir / f"{utt_id}{suffix}", _length(seed, 16000), 16000, seed)
                words = [WORDS[(seed + i) % len(WORDS)] for i in range(2 + u % 3)]
                written[utt_id] = " ".join(words)
                lines.append(f"{utt_id} {written[utt_id]}")
            (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return written


def write_librilight_finetuning(root: Path, speakers: tuple[str, ...] = ("1089", "121"), utterances: int = 2) -> dict[str, str]:
    """Libri-light's 10 h set inside a LibriSpeech root: `librispeech_finetuning/1h/{0..5}/{clean,other}`
    and `9h/{clean,other}` (here: one 1h fold and the 9h part); returns {id: transcript}."""
    written = {}
    for index, folder in enumerate(("1h/0/clean", "1h/3/other", "9h/clean", "9h/other")):
        speaker = f"{speakers[index % len(speakers)]}{index}"
        written |= write_librispeech(root, f"librispeech_finetuning/{folder}", (speaker,), 1, utterances)
    return written


def write_voxceleb1(
    root: Path, speakers: int = 3, train: int = 4, dev: int = 1, test: int = 1, videos: int = 2
) -> dict[str, list[str]]:
    """`root/vox1_{dev,test}_wav/wav/idXXXXX/VIDEO/NNNNN.wav` + `root/iden_split.txt`. The last
    speaker lives in the test archive, as in the real release, where the identification split
    spans both trees. Returns {split: relative paths as listed}."""
    listed: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    lines = []
    for s in range(speakers):
        speaker = f"id{10001 + s}"
        archive = "vox1_test_wav" if s == speakers - 1 else "vox1_dev_wav"
        plan = ["1"] * train + ["2"] * dev + ["3"] * test
        for u, code in enumerate(plan):
            rel = f"{speaker}/vid{s}_{u % videos}Ab-x/{u + 1:05d}.wav"
            seed = 100 * s + u
            write_audio(Path(root) / archive / "wav" / rel, _length(seed, 16000), 16000, seed)
            lines.append(f"{code} {rel}")
            listed[{"1": "train", "2": "dev", "3": "test"}[code]].append(rel)
    (Path(root) / "iden_split.txt").write_text("\n".join(lines) + "\n")
    return listed


def write_voicebank(
    root: Path,
    rate: int = 48000,
    train_speakers: tuple[str, ...] = ("p226", "p287", "p227", "p228"),
    test_speakers: tuple[str, ...] = ("p232",),
    utterances: int = 3,
    folder_suffix: str = "",
) -> dict[str, list[str]]:
    """`root/{clean,noisy}_{trainset_28spk,testset}_wav<folder_suffix>/pNNN_MMM.wav` at `rate`
    (48 kHz as in the original release; `folder_suffix="_16k"` with rate 16000 for the common
    copies). Returns {"trainset": ids, "testset": ids}."""
    written: dict[str, list[str]] = {"trainset": [], "testset": []}
    for part, folder, speakers in (("trainset", "trainset_28spk_wav", train_speakers), ("testset", "testset_wav", test_speakers)):
        for s, speaker in enumerate(speakers):
            for u in range(utterances):
                utt_id = f"{speaker}_{u + 1:03d}"
                seed = 1000 + 10 * s + u
                length = _length(seed, rate)
                write_audio(Path(root) / f"clean_{folder}{folder_suffix}" / f"{utt_id}.wav", length, rate, seed)
                write_audio(Path(root) / f"noisy_{folder}{folder_suffix}" / f"{utt_id}.wav", length, rate, seed + 500)
                written[part].append(utt_id)
    return written


def write_libri2mix(
    root: Path, sizes: dict[str, int] | None = None, speakers: tuple[str, ...] = ("19", "26", "39"),
    foreign_root: str = FOREIGN_LIBRI2MIX_ROOT,
) -> dict[str, list[str]]:
    """`root/wav16k/min/{train-100,dev,test}/{mix_clean,s1,s2}/ID.wav` + metadata CSVs whose paths
    point at `foreign_root` (the machine that generated them). Returns {part: mixture ids}."""
    sizes = sizes or {"train-100": 4, "dev": 3, "test": 2}
    corpus = Path(root) / "wav16k" / "min"
    written: dict[str, list[str]] = {}
    for p, (part, count) in enumerate(sizes.items()):
        rows, written[part] = [], []
        for m in range(count):
            first, second = speakers[m % len(speakers)], speakers[(m + 1) % len(speakers)]
            mixture_id = f"{first}-198-{p}{m:03d}_{second}-227-{p}{m:03d}"
            seed = 2000 + 50 * p + m
            length = _length(seed, 16000)
            paths = {}
            for kind, kind_seed in (("s1", seed), ("s2", seed + 1), ("mix_clean", seed + 2)):
                write_audio(corpus / part / kind / f"{mixture_id}.wav", length, 16000, kind_seed)
                paths[kind] = f"{foreign_root}/wav16k/min/{part}/{kind}/{mixture_id}.wav"
            rows.append([mixture_id, paths["mix_clean"], paths["s1"], paths["s2"], length])
            written[part].append(mixture_id)
        metadata = corpus / "metadata"
        metadata.mkdir(parents=True, exist_ok=True)
        with (metadata / f"mixture_{part}_mix_clean.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"])
            writer.writerows(rows)
    return written


def write_all(root: Path) -> dict[str, dict]:
    """All four corpora under `root` (LibriSpeech with the 10 h set, dev-clean and test-clean),
    in the folders the `data` config section expects; returns that section."""
    root = Path(root)
    write_librilight_finetuning(root / "LibriSpeech")
    write_librispeech(root / "LibriSpeech", "dev-clean", ("2277",), 1, 2)
    write_librispeech(root / "LibriSpeech", "test-clean", ("1089",), 1, 2)
    write_voxceleb1(root / "VoxCeleb1")
    write_voicebank(root / "VoiceBank-DEMAND")
    write_libri2mix(root / "Libri2Mix")
    return {
        "asr": {"root": str(root / "LibriSpeech")},
        "sid": {"root": str(root / "VoxCeleb1")},
        "se": {"root": str(root / "VoiceBank-DEMAND")},
        "ss": {"root": str(root / "Libri2Mix")},
    }
