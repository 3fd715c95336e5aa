"""Downstream MACs of a training run (featurizer + head), recorded in metrics.json."""

from __future__ import annotations

import copy

import torch

from minisuperb.downstream.featurizer import Featurizer
from minisuperb.downstream.tasks.base import DownstreamTask

# Backward costs about twice the forward pass (gradients w.r.t. activations and weights).
TRAIN_MACS_PER_FORWARD = 3
MACS_METHOD = (
    "head: thop.profile of one training forward pass (Linear and LSTM modules) divided by its "
    "frames; featurizer: analytic (softmax-weighted sum, plus layer-norm when on; none for one layer). "
    "train = 3 x forward MACs per frame x training frames processed (forward + backward); "
    "eval = forward MACs per frame x frames evaluated (every dev evaluation and the test)."
)


class _LossCall(torch.nn.Module):
    """Wraps `task.loss` so that thop can hook the head's modules while the task calls it."""

    def __init__(self, task: DownstreamTask, head: torch.nn.Module):
        super().__init__()
        self.task, self.head = task, head

    def forward(self, features, lengths, batch):
        return self.task.loss(self.head, features, lengths, batch)


def head_macs_per_frame(task: DownstreamTask, head: torch.nn.Module, features: torch.Tensor,
                        lengths: torch.Tensor, batch: dict) -> float:
    """Forward MACs of the head per feature frame, counted by thop on a real batch."""
    import thop

    # A copy: thop leaves `total_ops`/`total_params` buffers on the modules it has no rule for
    # (the head itself, BiLstm), which would then enter the head's state_dict.
    macs, _ = thop.profile(_LossCall(task, copy.deepcopy(head)), inputs=(features, lengths, batch), verbose=False)
    return float(macs) / float(lengths.sum())


def run_macs(task: DownstreamTask, head: torch.nn.Module, featurizer: Featurizer, features: torch.Tensor,
             lengths: torch.Tensor, batch: dict, dim: int, train_frames: int, eval_frames: int) -> dict:
    """The metrics.json `macs` entry: per-frame MACs counted on one featurized batch, scaled by the
    frames the run trained on and evaluated (see MACS_METHOD)."""
    head_per_frame = head_macs_per_frame(task, head, features, lengths, batch)
    featurizer_per_frame = featurizer.macs_per_frame(dim)
    per_frame = head_per_frame + featurizer_per_frame
    return {
        "train": int(TRAIN_MACS_PER_FORWARD * per_frame * train_frames),
        "eval": int(per_frame * eval_frames),
        "head_per_frame": head_per_frame, "featurizer_per_frame": featurizer_per_frame,
        "train_frames": train_frames, "eval_frames": eval_frames,
        "method": MACS_METHOD,
    }
