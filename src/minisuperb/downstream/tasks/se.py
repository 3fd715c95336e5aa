"""Speech enhancement (VoiceBank-DEMAND), MiniSUPERB's `enhancement_stft2`: a sigmoid magnitude
mask on an STFT of fixed hop (the presets: 512 points, window 400, hop 160, so 100 frames per
second), L1 loss on log1p magnitudes against the clean speech, PESQ (wide-band), STOI and SI-SDR
improvement."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from minisuperb.downstream.metrics import pesq_wb, si_sdr_improvement, stoi
from minisuperb.downstream.tasks.masking import MaskingTask, Stft, frame_hop
from minisuperb.errors import MinisuperbError


class SeTask(MaskingTask):
    name = "se"
    metric_names = ("pesq", "stoi", "si_sdri")
    primary = "pesq"
    higher_is_better = True
    num_sources = 1
    distance = "l1"

    def stft(self) -> Stft:
        return Stft(int(self.setting("n_fft")), int(self.setting("win_length")), int(self.setting("hop_length")))

    def feature_repeat(self) -> int:
        """20 ms features are repeated twice to reach the 10 ms STFT frames (s3prl asserts a 160
        or 320 sample upstream step; any whole multiple of the STFT hop works the same way)."""
        feature_step, stft_hop = frame_hop(self.frame_rate), self.transform.hop_length
        if feature_step % stft_hop:
            raise MinisuperbError(
                f"SE repeats each feature frame to reach the STFT hop of {stft_hop} samples, so the "
                f"feature step must be a whole multiple of it; this store's frame rate "
                f"{self.frame_rate} Hz gives {feature_step} samples. Use an upstream with a 10 or "
                "20 ms frame step, or change hop_length in the se settings."
            )
        return feature_step // stft_hop

    def reference_paths(self, record: dict) -> list[str]:
        return [record["clean_path"]]

    def targets(self, mixture: Tensor, references: Tensor) -> Tensor:
        return references.abs()

    def score(self, references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
        clean, estimate = references[0], estimates[0]
        return {
            "pesq": pesq_wb(clean, estimate),
            "stoi": stoi(clean, estimate),
            "si_sdri": si_sdr_improvement(clean, estimate, mixture),
        }
