"""LibriSpeech and Libri-light's `librispeech_finetuning` (the 10 h set) for ASR.

Layout: `<root>/<folder>/.../SPEAKER/CHAPTER/SPEAKER-CHAPTER-UTT.flac`, with
`SPEAKER-CHAPTER.trans.txt` (`UTT-ID WORDS...`, upper case) beside the audio. The 10 h set nests
the same layout under `1h/{0..5}/{clean,other}` and `9h/{clean,other}`, so one recursive walk
per folder reads both.
"""

from __future__ import annotations

from pathlib import Path

from minisuperb.catalog import SPLITS
from minisuperb.corpora.audio import find_audio, read_infos
from minisuperb.corpora.manifest import check_splits, require_dir
from minisuperb.errors import MinisuperbError


def read_librispeech(settings: dict, threads: int = 1) -> dict[str, list[dict]]:
    """{split: records} for the folders that `settings` lists per split (`data.asr`)."""
    root = require_dir(settings["root"], "the ASR corpus root (config key data.asr.root)")
    splits = {split: _read_split(root, settings[split], split, threads) for split in SPLITS}
    check_splits(
        splits,
        {split: f"ASR split '{split}' ({', '.join(settings[split])} under {root})" for split in SPLITS},
        "Give each corpus folder to one split only (config keys data.asr.train, data.asr.dev, data.asr.test).",
    )
    return splits


def _read_split(root: Path, folders: list[str], split: str, threads: int) -> list[dict]:
    paths: list[Path] = []
    for folder in folders:
        where = f"the ASR {split} folder (config key data.asr.{split})"
        found = find_audio(require_dir(root / folder, where))
        if not found:
            raise MinisuperbError(f"{where} {root / folder} holds no .flac or .wav files.")
        paths += found
    transcripts = _TranscriptFiles()
    texts = [transcripts.text_of(path) for path in paths]
    records = [
        {
            "id": path.stem,
            "path": str(path),
            "num_samples": info.num_samples_16k,
            "sample_rate": info.sample_rate,
            "speaker": path.stem.split("-")[0],
            "transcript": text,
        }
        for path, info, text in zip(paths, read_infos(paths, threads), texts)
    ]
    records.sort(key=lambda record: record["id"])
    return records


class _TranscriptFiles:
    """Reads each chapter's `SPEAKER-CHAPTER.trans.txt` once, on first use."""

    def __init__(self) -> None:
        self._files: dict[Path, dict[str, str]] = {}

    def text_of(self, audio_path: Path) -> str:
        utt_id = audio_path.stem
        path = audio_path.parent / f"{utt_id.rsplit('-', 1)[0]}.trans.txt"
        if path not in self._files:
            self._files[path] = read_transcript_file(path, audio_path)
        text = self._files[path].get(utt_id)
        if text is None:
            raise MinisuperbError(
                f"utterance {utt_id} ({audio_path}) has no line in its transcript file {path}. "
                "Restore the line or remove the audio file."
            )
        return text


def read_transcript_file(path: Path, audio_path: Path) -> dict[str, str]:
    """{utterance id: words} of one `.trans.txt`; words are kept verbatim (apostrophes too)."""
    if not path.is_file():
        raise MinisuperbError(
            f"transcript file {path} is missing (needed for {audio_path}). "
            "Re-extract the corpus archive; each chapter folder has one SPEAKER-CHAPTER.trans.txt."
        )
    texts = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        utt_id, *words = line.split()
        if not words:
            raise MinisuperbError(
                f"empty transcript for utterance {utt_id} in {path} (line {number}). "
                "Add its words or remove the utterance."
            )
        texts[utt_id] = " ".join(words)
    return texts
