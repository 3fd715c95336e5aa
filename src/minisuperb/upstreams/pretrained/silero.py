"""Silero VAD v6 (silero-vad 6.2.3's `data/silero_vad_16k.safetensors`, MIT): a fixed STFT conv,
four conv blocks and an LSTM cell over 32 ms chunks, then a speech probability per chunk.

As the package's TorchScript model (`silero_vad.jit`: `VADRNNJIT` under the streaming wrapper)
and its tinygrad port (`tinygrad_model.py`): the waveform is cut into 512-sample chunks (the
last one zero-padded), each chunk prefixed with the 64 samples before it (zeros for the first)
and reflect-padded by 64 on the right (640 samples); a conv with the 258 fixed Hann-windowed
DFT filters of 256 taps, stride 128, gives 4 frames of 129 magnitudes; convs 129->128 (stride 1),
->64 (2), ->64 (2), ->128 (1), kernel 3, each with ReLU, reduce them to one 128-vector; an LSTM
cell of 128 carries its state from chunk to chunk; relu + 1x1 conv + sigmoid give the speech
probability. An utterance of L samples has ceil(L / 512) frames (31.25 Hz). The package's
TorchScript and ONNX models hold other weights than the safetensors file (the one read here,
which its tinygrad port loads); the architecture is the same (tests check both).

Layers (5 x 128): conv block 1 (128 x 4 frames, averaged to 128), block 2 (64 x 2, flattened),
block 3 (64, zero-padded to 128), block 4, the LSTM cell's hidden state. The random twin keeps
the STFT filters (a fixed transform in Silero, not learnt) and draws the rest. Chunks of a padded
batch equal the utterance's chunks alone: the padding is zero either way and the LSTM is causal.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.upstreams.base import Upstream
from minisuperb.upstreams.pretrained.common import seeded, to_dim, zero_padding

CHUNK = 512
CONTEXT = 64
N_FFT = 256
STFT_HOP = 128
HIDDEN = 128


class SileroVad(Upstream):
    def __init__(self):
        super().__init__()
        self.stft_conv = nn.Conv1d(1, N_FFT + 2, N_FFT, stride=STFT_HOP, bias=False)
        self.stft_conv.weight.data.copy_(torch.from_numpy(stft_basis(N_FFT)))
        self.stft_conv.weight.requires_grad_(False)
        self.conv1 = nn.Conv1d(N_FFT // 2 + 1, 128, 3, stride=1, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, HIDDEN, 3, stride=1, padding=1)
        self.lstm_cell = nn.LSTMCell(HIDDEN, HIDDEN)
        self.final_conv = nn.Conv1d(HIDDEN, 1, 1)
        self.num_layers = 5
        self.dim = HIDDEN
        self.frame_rate = SAMPLE_RATE / CHUNK
        self.min_samples = 1

    def encode(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Each conv block's output for every chunk, [B * chunks, channels, frames]."""
        batch, samples = wavs.shape
        count = -(-samples // CHUNK)
        padded = F.pad(zero_padding(wavs, lengths), (CONTEXT, count * CHUNK - samples))
        chunks = padded.unfold(1, CONTEXT + CHUNK, CHUNK).reshape(batch * count, 1, CONTEXT + CHUNK)
        spec = self.stft_conv(F.pad(chunks, (0, CONTEXT), mode="reflect"))
        half = N_FFT // 2 + 1
        x = torch.sqrt(spec[:, :half].square() + spec[:, half:].square())
        outputs = []
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.relu(conv(x))
            outputs.append(x)
        return outputs

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor):
        batch = wavs.shape[0]
        blocks = self.encode(wavs, lengths)
        layers = [to_dim(block, self.dim).reshape(batch, -1, self.dim) for block in blocks]
        inputs = layers[-1]
        state, hidden = None, []
        for step in range(inputs.shape[1]):
            state = self.lstm_cell(inputs[:, step], state)
            hidden.append(state[0])
        layers.append(torch.stack(hidden, dim=1))
        return layers, -(-lengths // CHUNK)

    def speech_probability(self, hidden: torch.Tensor) -> torch.Tensor:
        """[..., 128] LSTM states -> [...] speech probabilities (Silero's decoder)."""
        return torch.sigmoid(self.final_conv(F.relu(hidden).reshape(-1, HIDDEN, 1))).reshape(hidden.shape[:-1])


def stft_basis(n_fft: int) -> np.ndarray:
    """[n_fft + 2, 1, n_fft]: the real then imaginary parts of the first n_fft // 2 + 1 DFT rows,
    times a periodic Hann window (equals Silero's `forward_basis_buffer` to 1e-7)."""
    dft = np.fft.fft(np.eye(n_fft))[: n_fft // 2 + 1]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return (np.concatenate([dft.real, dft.imag]) * window)[:, None, :].astype(np.float32)


def build(name: str, state: dict | None, seed: int) -> SileroVad:
    with seeded(seed):
        model = SileroVad()
    if state is not None:
        model.load_state_dict(state)
    return model
