"""The one interface every upstream sits behind, whatever loads it.

`forward(wavs [B, S], lengths [B])` takes zero-padded 16 kHz waveforms and their true sample
counts and returns `(layers, frame_lengths)`: a list of `num_layers` tensors `[B, T, dim]` (all
hidden states, input layer first) and the true frame count of each utterance. Frames past an
utterance's count are padding and are never stored.
"""

from __future__ import annotations

import torch
from torch import nn



class Upstream(nn.Module):
    """An upstream model. Subclasses set the attributes below in `__init__`.

    It is an `nn.Module` so that MACs can be counted on it (thop hooks its sub-modules).
    """

    num_layers: int  # hidden states returned, N transformer layers + 1 for SSL models
    dim: int  # hidden size of every state
    frame_rate: float  # frames per second of audio
    min_samples: int  # shortest input (samples) the model accepts: its receptive field

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        raise NotImplementedError
