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


@dataclass(frozen=True)
class AudioInfo:
    num_samples: int
    sample_rate: int
    channels: int

    @property
    def num_samples_16k(self) -> int:
        """Sample count after resampling to 16 kHz (what `load` returns)."""
        return -(-self.num_samples * TARGET_RATE // self.sample_rate)


def info(path: str | Path) -> AudioInfo:
    """Read length and rate from the file header only (no decoding), so preparing a large
    corpus takes seconds. Fails with the file named when it is unreadable or empty."""
    try:
        header = sf.info(str(path))
    except Exception as error:  # soundfile raises several types for broken files
        raise MinisuperbError(
            f"cannot read audio header of {path}: {error}. Check that the file exists and is a "
            "valid WAV/FLAC file; re-extract or re-download it."
        ) from error
    if header.frames <= 0:
        raise MinisuperbError(f"audio file {path} is empty (0 samples). Remove it or replace it.")
    return AudioInfo(num_samples=header.frames, sample_rate=header.samplerate, channels=header.channels)


def find_audio(folder: str | Path) -> list[Path]:
    """Every .flac/.wav file under `folder`, in one directory walk, in a fixed (sorted) order."""
    found = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories.sort()
        found += [Path(directory, name) for name in sorted(files) if name.endswith(AUDIO_SUFFIXES)]
    return found


def read_infos(paths: Sequence[str | Path], threads: int = 1) -> list[AudioInfo]:
    """`info` of every path, in order. Header reads wait on the disk, not the CPU, so a few
    threads help on network file systems; the result does not depend on `threads`."""
    if threads <= 1 or len(paths) < 2:
        return [info(path) for path in paths]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(info, paths))


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
            f"cannot decode audio file {path}: {error}. Check that it is a valid WAV/FLAC file."
        ) from error
    if wav.shape[0] == 0:
        raise MinisuperbError(f"audio file {path} is empty (0 samples). Remove it or replace it.")
    wav = wav.mean(axis=1) if wav.shape[1] > 1 else wav[:, 0]
    if rate != target_rate:
        wav = resample(wav, rate, target_rate)
    return np.ascontiguousarray(wav, dtype=np.float32)
