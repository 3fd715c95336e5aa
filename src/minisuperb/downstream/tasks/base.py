"""The downstream task interface: data items, head, loss and metrics of one task.

The trainer (`minisuperb.downstream.loop`) owns everything task-independent: the featurizer, the
optimizer, steps, gradient accumulation, clipping, dev evaluation, checkpoints and metrics.json.
A task only says how to turn a manifest record and its stored features into a training item,
how to batch items, which head to train, its loss, and how to score the head's predictions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor


class DownstreamTask:
    """One downstream task: data items, head, loss and metrics. Subclasses per task."""

    name: str  # "asr" | "sid" | "se" | "ss"
    metric_names: tuple[str, ...]  # e.g. ("pesq", "stoi", "si_sdri")
    primary: str  # dev model-selection metric, e.g. "pesq"
    higher_is_better: bool

    def __init__(self, settings: dict, store_attrs: dict):
        """`settings`: the protocol's block for this task (steps, batch_size, lr, optimizer, head
        sizes, eval_every, ...). `store_attrs`: FeatureStore.attrs (num_layers, dim, frame_rate,
        pooled, ...)."""
        self.settings = settings
        self.store_attrs = store_attrs

    def prepare(self, train_records: Sequence[dict]) -> None:
        """Learn what the task needs from the training split before any item is made (e.g. the
        speaker -> class mapping of SID). Called once by the trainer; default: nothing."""

    def make_item(self, record: dict, features: np.ndarray) -> dict:
        """`record`: the manifest record; `features`: float32 [T, L, D] from the store.
        Returns a dict of tensors/values (e.g. SE loads audio and computes STFT targets here)."""
        raise NotImplementedError

    def collate(self, items: list[dict]) -> dict:
        """Batch items. Must include "features": FloatTensor [B, T, L, D] zero-padded and
        "lengths": LongTensor [B] (feature frames)."""
        raise NotImplementedError

    def build_head(self, dim: int) -> torch.nn.Module:
        raise NotImplementedError

    def loss(self, head: torch.nn.Module, features: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """Scalar loss. `features`: [B, T, D], the featurizer's output (layer-norm + softmax-
        weighted sum), already SpecAugmented for ASR training."""
        raise NotImplementedError

    def predict(self, head: torch.nn.Module, features: Tensor, lengths: Tensor, batch: dict) -> list[dict]:
        """Per-utterance results for evaluation, e.g. {"ref": ..., "hyp": ...} or
        {"pesq": ..., "stoi": ..., "si_sdri": ...}."""
        raise NotImplementedError

    def summarize(self, predictions: list[dict]) -> dict[str, float]:
        """Metric name -> split-level value, in the units of the SUPERB tables."""
        raise NotImplementedError

    def failures(self, predictions: list[dict]) -> dict[str, int]:
        """Metric name -> utterances that metric could not score (they got its worst value);
        recorded in metrics.json. Default: none."""
        return {}


def pad_features(items: list[dict]) -> tuple[Tensor, Tensor]:
    """Zero-pad the items' "features" ([T, L, D] arrays or tensors) to [B, T_max, L, D]; return
    them with the true frame counts [B]. Shared by every task's `collate`."""
    tensors = [torch.as_tensor(item["features"], dtype=torch.float32) for item in items]
    lengths = torch.tensor([tensor.shape[0] for tensor in tensors], dtype=torch.long)
    padded = tensors[0].new_zeros((len(tensors), int(lengths.max()), *tensors[0].shape[1:]))
    for row, tensor in enumerate(tensors):
        padded[row, : tensor.shape[0]] = tensor
    return padded, lengths


def reverse_padded(sequences: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of a zero-padded batch [B, T, ...] within its valid frames; the
    padding stays where it is. Applying it twice gives the input back."""
    steps = torch.arange(sequences.shape[1], device=sequences.device).expand(sequences.shape[0], -1)
    source = lengths.to(sequences.device)[:, None] - 1 - steps
    source = torch.where(source >= 0, source, steps)
    return sequences.gather(1, source.view(*source.shape, *[1] * (sequences.dim() - 2)).expand_as(sequences))


class BiLstm(torch.nn.Module):
    """A multi-layer bidirectional LSTM over a zero-padded batch [B, T, D] -> [B, T, 2*hidden].

    On valid frames it computes exactly what `nn.LSTM(bidirectional=True)` computes on a packed
    sequence (the backward direction runs on each sequence reversed within its length, so it
    starts at the true last frame); frames beyond a sequence's length hold garbage for the
    caller to ignore. Why not packing: on CPU, where the demo trains, the backward pass of a
    packed LSTM is much slower when lengths differ. Dropout is applied between layers, as
    `nn.LSTM(dropout=...)` does.
    """

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        sizes = [input_size] + [2 * hidden] * (layers - 1)
        self.ahead = torch.nn.ModuleList(torch.nn.LSTM(size, hidden, batch_first=True) for size in sizes)
        self.behind = torch.nn.ModuleList(torch.nn.LSTM(size, hidden, batch_first=True) for size in sizes)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        for layer, (ahead, behind) in enumerate(zip(self.ahead, self.behind)):
            if layer:
                sequences = self.dropout(sequences)
            backward = reverse_padded(behind(reverse_padded(sequences, lengths))[0], lengths)
            sequences = torch.cat([ahead(sequences)[0], backward], dim=-1)
        return sequences
