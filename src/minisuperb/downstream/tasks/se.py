"""Speech enhancement (VoiceBank-DEMAND): a magnitude mask on the noisy STFT (the recipe of the
task settings, see `minisuperb.downstream.tasks.masking`: MiniSUPERB's `enhancement_stft2` or
SUPERB's `enhancement_stft`), scored with wide-band PESQ, STOI and SI-SDR improvement.

PESQ refuses some pairs (a silent estimate, e.g. a dead ReLU mask). Such an utterance scores the
lowest wide-band PESQ instead of aborting the run, and is counted (metrics.json `failures`); more
than `MAX_PESQ_FAILURE_SHARE` of a split is an error: the head, not PESQ, is broken then.
"""

from __future__ import annotations

import numpy as np

from minisuperb.downstream.metrics import PESQ_WB_FLOOR, PesqError, pesq_wb, si_sdr_improvement, stoi
from minisuperb.downstream.tasks.masking import MaskingTask
from minisuperb.errors import MinisuperbError

MAX_PESQ_FAILURE_SHARE = 0.05


class SeTask(MaskingTask):
    name = "se"
    metric_names = ("pesq", "stoi", "si_sdri")
    primary = "pesq"
    higher_is_better = True
    num_sources = 1

    def reference_paths(self, record: dict) -> list[str]:
        return [record["clean_path"]]

    def score(self, references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
        clean, estimate = references[0], estimates[0]
        try:
            pesq, failed = pesq_wb(clean, estimate), False
        except PesqError:
            pesq, failed = PESQ_WB_FLOOR, True
        return {
            "pesq": pesq,
            "stoi": stoi(clean, estimate),
            "si_sdri": si_sdr_improvement(clean, estimate, mixture),
            "pesq_failed": failed,
        }

    def failures(self, predictions: list[dict]) -> dict[str, int]:
        return {"pesq": sum(prediction["pesq_failed"] for prediction in predictions)}

    def summarize(self, predictions: list[dict]) -> dict[str, float]:
        failed = self.failures(predictions)["pesq"]
        if failed > MAX_PESQ_FAILURE_SHARE * len(predictions):
            first = next(prediction["id"] for prediction in predictions if prediction["pesq_failed"])
            raise MinisuperbError(
                f"PESQ could not score {failed} of {len(predictions)} SE estimates (more than "
                f"{MAX_PESQ_FAILURE_SHARE:.0%}; first: utterance {first}), usually because they are "
                "silent: the head outputs (near-)zero masks. Check the training loss and learning rate "
                "in the run's log, and that the clean references are not silent."
            )
        return super().summarize(predictions)
