"""The one audio loader: every stage reads audio through `load`, which returns 16 kHz mono."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from minisuperb.errors import MinisuperbError

TARGET_RATE = 16_000
AUDIO_SUFFIXES = (".flac", ".wav")
LISTED_PROBLEMS = 10  # unusable files named in the error; the rest are counted


@dataclass(frozen=True)
class AudioInfo:
    num_samples: int
    sample_rate: int
    channels: int

    @property
    def num_samples_16k(self) -> int:
        """Sample count after resampling to 16 kHz (what `load` returns)."""
        return -(-self.num_samples * TARGET_RATE // self.sample_rate)


class UnusableAudio(MinisuperbError):
    """An audio file that cannot be read; `reason` says why, without the fix."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"audio file {path} {reason}. Re-extract or re-download it (or remove it).")
        self.path, self.reason = path, reason


def info(path: str | Path) -> AudioInfo:
    """Read length and rate from the file header, and decode the last sample only (one FLAC
    block, ~0.1 ms): a truncated FLAC keeps a header announcing every sample, and would otherwise
    fail only at feature extraction. Raises `UnusableAudio` for unreadable, truncated or empty
    files."""
    try:
        handle = sf.SoundFile(str(path))
    except Exception as error:  # soundfile raises several types for broken files
        raise UnusableAudio(path, f"has no readable WAV/FLAC header ({error})") from error
    with handle:
        found = AudioInfo(num_samples=handle.frames, sample_rate=handle.samplerate, channels=handle.channels)
        if found.num_samples <= 0:
            raise UnusableAudio(path, "is empty (0 samples)")
        try:
            handle.seek(found.num_samples - 1)
            complete = len(handle.read(1, dtype="float32")) == 1
        except Exception as error:  # e.g. "psf_fseek() failed", "flac decoder lost sync"
            raise UnusableAudio(path, f"is truncated or damaged: its last sample does not decode ({error})") from error
    if not complete:
        raise UnusableAudio(path, "is truncated: it ends before the last sample its header announces")
    missing = wav_data_shortfall(path)
    if missing:
        # libsndfile counts a cut WAV's frames from the bytes present: it decodes without error.
        raise UnusableAudio(path, f"is truncated: its header announces {missing} more bytes of samples "
                                  "than the file holds")
    return found


# A RIFF data chunk of unknown length (streamed WAV writers): nothing to compare with.
UNKNOWN_RIFF_LENGTHS = (0, 0xFFFFFFFF)


def wav_data_shortfall(path: str | Path) -> int:
    """Bytes that a RIFF/WAVE file's `data` chunk header announces beyond the end of the file
    (0 when complete, or not a RIFF/WAVE file)."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        size = os.fstat(handle.fileno()).st_size
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk = handle.read(8)
            length = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                return 0 if length in UNKNOWN_RIFF_LENGTHS else max(0, offset + 8 + length - size)
            offset += 8 + length + (length & 1)
    return 0


def find_audio(folder: str | Path) -> list[Path]:
    """Every .flac/.wav file under `folder`, in one directory walk, in a fixed (sorted) order."""
    found = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories.sort()
        found += [Path(directory, name) for name in sorted(files) if name.endswith(AUDIO_SUFFIXES)]
    return found


def read_infos(paths: Sequence[str | Path], threads: int = 1) -> list[AudioInfo]:
    """`info` of every path, in order; every unusable file is reported in one error. Header
    reads wait on the disk, not the CPU, so a few threads help on network file systems; the
    result does not depend on `threads`."""
    if threads <= 1 or len(paths) < 2:
        results = [_info_or_problem(path) for path in paths]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(_info_or_problem, paths))
    problems = [result for result in results if isinstance(result, UnusableAudio)]
    if problems:
        listed = "".join(f"\n  {problem.path}: {problem.reason}" for problem in problems[:LISTED_PROBLEMS])
        more = f"\n  ... and {len(problems) - LISTED_PROBLEMS} more" if len(problems) > LISTED_PROBLEMS else ""
        raise MinisuperbError(
            f"{len(problems)} of {len(paths)} audio files cannot be read:{listed}{more}\n"
            "Re-extract or re-download them (or remove them from the corpus), then rerun."
        )
    return results


def _info_or_problem(path: str | Path) -> AudioInfo | UnusableAudio:
    try:
        return info(path)
    except UnusableAudio as problem:
        return problem


def resample(wav: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling; float32 input stays float32."""
    # Imported here: scipy.signal takes ~0.6 s to import, and most data jobs never resample.
    from scipy.signal import resample_poly

    divisor = gcd(rate_in, rate_out)
    return resample_poly(wav, rate_out // divisor, rate_in // divisor)


def load(path: str | Path, target_rate: int = TARGET_RATE) -> np.ndarray:
    """Decode `path` to float32 mono at `target_rate` (polyphase resampling when needed)."""
    try:
        wav, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise MinisuperbError(
            f"cannot decode audio file {path}: {error}. It is damaged (e.g. truncated) or not a "
            "WAV/FLAC file: restore it from the corpus archive (or remove it and rerun the data "
            "stage), then rerun."
        ) from error
    if wav.shape[0] == 0:
        raise MinisuperbError(f"audio file {path} is empty (0 samples). Remove it or replace it.")
    wav = wav.mean(axis=1) if wav.shape[1] > 1 else wav[:, 0]
    if rate != target_rate:
        wav = resample(wav, rate, target_rate)
    return np.ascontiguousarray(wav, dtype=np.float32)
