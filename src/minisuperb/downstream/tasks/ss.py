"""Two-speaker separation (Libri2Mix), MiniSUPERB's `separation_stft2`: two sigmoid masks on an
STFT (the presets: 1024 points, window 1024) whose hop is the upstream's frame step,
utterance-level permutation-invariant MSE on log1p magnitudes against phase-sensitive targets,
SI-SDR improvement."""

from __future__ import annotations

import itertools

import numpy as np
from torch import Tensor

from minisuperb.downstream.metrics import si_sdr
from minisuperb.downstream.tasks.masking import MaskingTask, Stft, frame_hop, phase_sensitive_target
from minisuperb.errors import MinisuperbError

NUM_SPEAKERS = 2


class SsTask(MaskingTask):
    name = "ss"
    metric_names = ("si_sdri",)
    primary = "si_sdri"
    higher_is_better = True
    num_sources = NUM_SPEAKERS
    distance = "mse"

    def stft(self) -> Stft:
        return Stft(int(self.setting("n_fft")), int(self.setting("win_length")), frame_hop(self.frame_rate))

    def feature_repeat(self) -> int:
        return 1  # the STFT hop is the feature step: one feature frame per STFT frame

    def reference_paths(self, record: dict) -> list[str]:
        paths = record["source_paths"]
        if len(paths) != NUM_SPEAKERS:
            raise MinisuperbError(
                f"utterance {record['id']}: `source_paths` lists {len(paths)} files; SS separates "
                f"{NUM_SPEAKERS} speakers. Check the Libri2Mix manifest (s1 and s2 per mixture)."
            )
        return list(paths)

    def targets(self, mixture: Tensor, references: Tensor) -> Tensor:
        return phase_sensitive_target(mixture[None], references)

    def score(self, references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
        """s3prl v2: the best over output orders of the mean SI-SDR over speakers, minus the mean
        SI-SDR of the mixture against each speaker."""
        best = max(
            np.mean([si_sdr(references[source], estimates[output]) for source, output in enumerate(order)])
            for order in itertools.permutations(range(NUM_SPEAKERS))
        )
        baseline = np.mean([si_sdr(reference, mixture) for reference in references])
        return {"si_sdri": float(best - baseline)}
