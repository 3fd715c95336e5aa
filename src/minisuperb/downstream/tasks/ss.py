"""Two-speaker separation (Libri2Mix): two masks on the mixture STFT (the recipe of the task
settings, see `minisuperb.downstream.tasks.masking`: MiniSUPERB's `separation_stft2` or SUPERB's
`separation_stft`), scored with the SI-SDR improvement."""

from __future__ import annotations

import itertools

import numpy as np

from minisuperb.downstream.metrics import si_sdr
from minisuperb.downstream.tasks.masking import MaskingTask
from minisuperb.errors import MinisuperbError

NUM_SPEAKERS = 2


class SsTask(MaskingTask):
    name = "ss"
    metric_names = ("si_sdri",)
    primary = "si_sdri"
    higher_is_better = True
    num_sources = NUM_SPEAKERS

    def reference_paths(self, record: dict) -> list[str]:
        paths = record["source_paths"]
        if len(paths) != NUM_SPEAKERS:
            raise MinisuperbError(
                f"utterance {record['id']}: `source_paths` lists {len(paths)} files; SS separates "
                f"{NUM_SPEAKERS} speakers. Check the Libri2Mix manifest (s1 and s2 per mixture)."
            )
        return list(paths)

    def score(self, references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
        """s3prl v2: the best over output orders of the mean SI-SDR over speakers, minus the mean
        SI-SDR of the mixture against each speaker. (v1 orders the outputs by mir_eval's SDR
        instead; both pick the same order unless the two orders nearly tie.)"""
        best = max(
            np.mean([si_sdr(references[source], estimates[output]) for source, output in enumerate(order)])
            for order in itertools.permutations(range(NUM_SPEAKERS))
        )
        baseline = np.mean([si_sdr(reference, mixture) for reference in references])
        return {"si_sdri": float(best - baseline)}
