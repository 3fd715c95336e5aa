"""The one audio loader: every stage reads audio through `load`, which returns 16 kHz mono."""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from minisuperb.errors import MinisuperbError

TARGET_RATE = 16_000


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
        divisor = gcd(rate, target_rate)
        wav = resample_poly(wav, target_rate // divisor, rate // divisor).astype(np.float32)
    return np.ascontiguousarray(wav, dtype=np.float32)
