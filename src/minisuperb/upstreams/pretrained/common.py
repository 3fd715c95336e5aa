"""What the pretrained upstreams share: seeded random initialisation, zeroed padding, and the
one-size-per-layer rule of the feature store."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from minisuperb.tensors import padding_mask


@contextlib.contextmanager
def seeded(seed: int):
    """torch's global generator seeded for a module's construction, restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def zero_padding(wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Samples past each utterance's length set to 0: a padded row then reads like the utterance
    alone, zero-padded, which is what each model's own framing pads with."""
    return wavs * padding_mask(lengths, wavs.shape[1]).to(wavs.dtype)


def to_dim(x: torch.Tensor, dim: int) -> torch.Tensor:
    """[N, channels, positions] -> [N, dim], position-major (the order CREPE's classifier reads).

    More than `dim` values: average-pool the positions down to dim // channels. Fewer: zero-pad
    (a constant the featurizer's per-frame layer-norm turns into a constant offset)."""
    n, channels, positions = x.shape
    if channels * positions > dim:
        target = dim // channels
        if target < 1 or dim % channels or positions % target:
            raise ValueError(f"cannot pool {channels} x {positions} to {dim} values")
        x = F.avg_pool1d(x, positions // target)
    flat = x.transpose(1, 2).reshape(n, -1)
    if flat.shape[1] < dim:
        flat = F.pad(flat, (0, dim - flat.shape[1]))
    return flat
