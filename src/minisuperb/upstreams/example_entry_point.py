"""An example entry-point upstream: log-mel filterbanks and their time derivative as two layers.

Config: `{loader: entry_point, entry_point: "minisuperb.upstreams.example_entry_point:build",
kwargs: {n_mels: 40}}`. See `minisuperb.upstreams.entry_point` for the interface.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
LOG_FLOOR = 1e-6


class LogMelLayers(nn.Module):
    frame_rate = SAMPLE_RATE / HOP
    min_samples = WINDOW

    def __init__(self, n_mels: int = 40):
        super().__init__()
        # center=False: frame t only sees samples [t*HOP, t*HOP + WINDOW), so zero padding after an
        # utterance never changes its frames and batches are exact.
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=WINDOW, hop_length=HOP, n_mels=n_mels, center=False
        )

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths - WINDOW) // HOP + 1

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        log_mel = torch.log(self.mel(wavs) + LOG_FLOOR).transpose(1, 2)  # [B, T, n_mels]
        delta = torch.diff(log_mel, dim=1, prepend=log_mel[:, :1])
        return [log_mel, delta]


def build(n_mels: int = 40) -> LogMelLayers:
    return LogMelLayers(n_mels)
