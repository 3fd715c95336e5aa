"""Torch helpers shared by the stages (upstream extraction and downstream training)."""

from __future__ import annotations

import torch


def padding_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """[B, max_length] bool, True on valid positions."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]
