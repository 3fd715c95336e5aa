"""The featurizer: how stored upstream layers become one feature sequence per utterance.

As in s3prl's Featurizer (and MiniSUPERB, which turns the layer-norm on): each layer is
normalised per frame with a layer-norm without affine parameters, then the layers are summed
with softmax weights learned with the head, initialised to zero (a uniform average).
A store of one layer (FBANK, MFCC) passes through untouched: s3prl's `_select_feature` unwraps a
one-element hidden-state list before the weighted sum, so neither weights nor the layer-norm
apply (s3prl/upstream/interfaces.py, Featurizer; the same in Comet0322/MiniSUPERB
minisuperb/upstream/interfaces.py).
SpecAugment (ASR training only) acts on the featurizer's output, as in s3prl's runner.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Featurizer(nn.Module):
    def __init__(self, num_layers: int, layer_norm: bool = True):
        super().__init__()
        self.num_layers = num_layers
        self.layer_norm = layer_norm and num_layers > 1
        # One layer: no parameter at all, as in s3prl (its Featurizer creates none either).
        self.weights = nn.Parameter(torch.zeros(num_layers)) if num_layers > 1 else None

    def forward(self, features: Tensor) -> Tensor:
        """[B, T, L, D] stored layers -> [B, T, D] weighted sum (the layer itself when L = 1)."""
        if features.shape[2] != self.num_layers:
            raise ValueError(f"featurizer built for {self.num_layers} layers, got {features.shape[2]}")
        if self.weights is None:
            return features[:, :, 0]
        if self.layer_norm:
            features = F.layer_norm(features, features.shape[-1:])
        return torch.einsum("btld,l->btd", features, torch.softmax(self.weights, dim=0))

    def layer_weights(self) -> list[float]:
        """The softmax weights (what metrics.json records), one per layer ([1.0] for one layer)."""
        if self.weights is None:
            return [1.0]
        return torch.softmax(self.weights.detach(), dim=0).cpu().tolist()

    def macs_per_frame(self, dim: int) -> int:
        """Analytic multiply-accumulates per frame: the weighted sum (L*D), plus, with the
        layer-norm, mean, variance and scaling (about 3*L*D); none for one layer."""
        if self.weights is None:
            return 0
        return self.num_layers * dim * (4 if self.layer_norm else 1)


def spec_augment(
    features: Tensor,
    lengths: Tensor,
    generator: torch.Generator | None = None,
    time_masks: int = 2,
    time_width: int = 40,
    freq_masks: int = 4,
    freq_width: int = 50,
    time_warp_window: int = 0,
) -> Tensor:
    """s3prl's SpecAugment (s3prl/downstream/specaug.py), per utterance: first a time warp
    within its valid frames when `time_warp_window` > 0, then `time_masks` spans of width drawn
    from [0, time_width) frames inside its valid frames and `freq_masks` spans of width drawn
    from [0, freq_width) feature dimensions are set to 0. Returns a new tensor.

    The spans are collected into boolean masks and applied in one `torch.where`: zeroing each
    span in place makes autograd copy the whole gradient once per span in the backward pass
    (-25% CPU per ASR step; BENCHMARKS.md, "Offline store vs on-the-fly upstream in training")."""
    if time_warp_window > 0:
        warped = torch.stack([
            torch.cat([time_warp(row[:length], time_warp_window, generator), row[length:]])
            for row, length in zip(features, lengths.tolist())
        ])
    else:
        warped = features
    batch, frames, dim = features.shape
    keep_time = torch.ones(batch, frames, 1, dtype=torch.bool)
    keep_dims = torch.ones(batch, 1, dim, dtype=torch.bool)
    for row, length in enumerate(lengths.tolist()):
        for _ in range(time_masks):
            start, width = _random_span(length, time_width, generator)
            keep_time[row, start : start + width] = False
        for _ in range(freq_masks):
            start, width = _random_span(dim, freq_width, generator)
            keep_dims[row, :, start : start + width] = False
    keep = (keep_time & keep_dims).to(features.device)
    return torch.where(keep, warped, torch.zeros((), dtype=features.dtype, device=features.device))


def time_warp(frames: Tensor, window: int, generator: torch.Generator | None = None) -> Tensor:
    """s3prl's TimeWarp of one utterance [T, D]: a centre drawn from [window, T - window) moves
    to a point within `window` frames of it; each side is stretched to fit by bicubic
    interpolation along time. Utterances of at most 2 * window frames are left alone."""
    total = frames.shape[0]
    if total - window <= window:
        return frames
    center = int(torch.randint(window, total - window, (1,), generator=generator))
    warped = int(torch.randint(center - window, center + window, (1,), generator=generator)) + 1
    image = frames[None, None]  # [1, 1, T, D]: interpolate treats time and dims as height and width
    left = F.interpolate(image[:, :, :center], (warped, frames.shape[1]), mode="bicubic", align_corners=False)
    right = F.interpolate(image[:, :, center:], (total - warped, frames.shape[1]), mode="bicubic", align_corners=False)
    return torch.cat([left, right], dim=2)[0, 0]


def _random_span(size: int, max_width: int, generator: torch.Generator | None) -> tuple[int, int]:
    width = int(torch.randint(0, max(1, min(max_width, size + 1)), (1,), generator=generator))
    start = int(torch.randint(0, size - width + 1, (1,), generator=generator))
    return start, width
