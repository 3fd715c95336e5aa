"""The featurizer: how stored upstream layers become one feature sequence per utterance.

As in s3prl's Featurizer (and MiniSUPERB, which turns the layer-norm on): each layer is
normalised per frame with a layer-norm without affine parameters, then the layers are summed
with softmax weights learned with the head, initialised to zero (a uniform average).
SpecAugment (ASR training only) acts on this weighted sum, as in s3prl's runner.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Featurizer(nn.Module):
    def __init__(self, num_layers: int, layer_norm: bool = True):
        super().__init__()
        self.layer_norm = layer_norm
        self.weights = nn.Parameter(torch.zeros(num_layers))

    def forward(self, features: Tensor) -> Tensor:
        """[B, T, L, D] stored layers -> [B, T, D] weighted sum."""
        if features.shape[2] != self.weights.shape[0]:
            raise ValueError(f"featurizer built for {self.weights.shape[0]} layers, got {features.shape[2]}")
        if self.layer_norm:
            features = F.layer_norm(features, features.shape[-1:])
        return torch.einsum("btld,l->btd", features, torch.softmax(self.weights, dim=0))

    def layer_weights(self) -> list[float]:
        """The softmax weights (what metrics.json records), one per layer."""
        return torch.softmax(self.weights.detach(), dim=0).cpu().tolist()

    def macs_per_frame(self, dim: int) -> int:
        """Analytic multiply-accumulates per frame: the weighted sum (L*D), plus, with the
        layer-norm, mean, variance and scaling (about 3*L*D)."""
        layers = self.weights.shape[0]
        return layers * dim * (4 if self.layer_norm else 1)


def spec_augment(
    features: Tensor,
    lengths: Tensor,
    generator: torch.Generator | None = None,
    time_masks: int = 2,
    time_width: int = 40,
    freq_masks: int = 4,
    freq_width: int = 50,
) -> Tensor:
    """s3prl's SpecAugment without time warping: per utterance, `time_masks` spans of width
    drawn from [0, time_width) frames inside its valid frames and `freq_masks` spans of width
    drawn from [0, freq_width) feature dimensions are set to 0. Returns a new tensor."""
    masked = features.clone()
    dim = features.shape[-1]
    for row, length in enumerate(lengths.tolist()):
        for _ in range(time_masks):
            start, width = _random_span(length, time_width, generator)
            masked[row, start : start + width, :] = 0.0
        for _ in range(freq_masks):
            start, width = _random_span(dim, freq_width, generator)
            masked[row, :, start : start + width] = 0.0
    return masked


def _random_span(size: int, max_width: int, generator: torch.Generator | None) -> tuple[int, int]:
    width = int(torch.randint(0, max(1, min(max_width, size + 1)), (1,), generator=generator))
    start = int(torch.randint(0, size - width + 1, (1,), generator=generator))
    return start, width
