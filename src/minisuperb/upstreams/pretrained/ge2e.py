"""GE2E speaker encoder (Resemblyzer 0.1.4's `pretrained.pt`, Apache-2.0): a 3-layer LSTM of 256
over 40 mel bands at 10 ms, then linear + ReLU + L2 norm (the speaker embedding).

Front end as resemblyzer's `preprocess_wav` + `wav_to_mel_spectrogram` (hparams.py, audio.py):
- volume normalised to -30 dBFS, increase only (`normalize_volume`), over the valid samples;
  its webrtcvad silence trimming is left out, since it would change the timing of the frames;
- librosa's `melspectrogram` defaults: 25 ms periodic-Hann window (n_fft 400), 10 ms hop (160),
  centred frames zero-padded by 200 samples (librosa >= 0.10's pad_mode "constant"), power 2,
  40 Slaney-scale, Slaney-normalised mel filters from 0 to 8 kHz, *no* log.
  So an utterance of L samples has 1 + L // 160 frames.

Layers (5 x 256, 100 Hz): the mel input (40 bands, zero-padded to 256), the output of each LSTM
layer, and the per-frame embedding relu(linear(h3)) / ||.||, which at the last frame of a
1.6 s input is resemblyzer's partial-utterance embedding. The LSTM runs over the whole utterance
(resemblyzer cuts 1.6 s partials for its utterance embedding; a feature sequence needs every
frame). It is causal, so frames of a padded batch equal the utterance's frames alone.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.upstreams.base import Upstream
from minisuperb.upstreams.pretrained.common import seeded, zero_padding

N_FFT = 400  # mel_window_length 25 ms
HOP = 160  # mel_window_step 10 ms
N_MELS = 40  # mel_n_channels
HIDDEN = 256  # model_hidden_size = model_embedding_size
LSTM_LAYERS = 3  # model_num_layers
TARGET_DBFS = -30.0  # audio_norm_target_dBFS


class Ge2e(Upstream):
    def __init__(self):
        super().__init__()
        sizes = [N_MELS] + [HIDDEN] * LSTM_LAYERS
        # One LSTM cell per layer, stepped frame by frame: a stacked nn.LSTM returns only the last
        # layer's states, and its fused CPU (oneDNN) and GPU (cuDNN) kernels are invisible to
        # torch's flop counter, which would count ~5% of GE2E's MACs; cells run as matmuls, which
        # it counts (so does thop), at ~2.5x the fused kernel's time on CPU (GE2E stays cheap:
        # 1.4 M MACs per frame).
        self.lstm = nn.ModuleList(nn.LSTMCell(sizes[i], HIDDEN) for i in range(LSTM_LAYERS))
        self.linear = nn.Linear(HIDDEN, HIDDEN)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.register_buffer("mel_filters", torch.from_numpy(slaney_mel_filters(SAMPLE_RATE, N_FFT, N_MELS)),
                             persistent=False)
        self.num_layers = LSTM_LAYERS + 2
        self.dim = HIDDEN
        self.frame_rate = SAMPLE_RATE / HOP
        self.min_samples = 1

    def mel(self, wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, 1 + S // 160, 40] power mel spectrogram of the volume-normalised waveforms."""
        wavs = normalize_volume(zero_padding(wavs.float(), lengths), lengths)
        spec = torch.stft(wavs, N_FFT, HOP, N_FFT, self.window, center=True, pad_mode="constant",
                          return_complex=True)
        power = spec.real.square() + spec.imag.square()  # [B, 201, frames]
        return torch.matmul(self.mel_filters, power).transpose(1, 2)

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor):
        with torch.autocast(wavs.device.type, enabled=False):  # power spectra overflow float16
            mel = self.mel(wavs, lengths)
        layers = [F.pad(mel, (0, HIDDEN - N_MELS))]
        hidden = mel
        for cell in self.lstm:
            state, steps = None, []
            for frame in hidden.unbind(1):
                state = cell(frame, state)
                steps.append(state[0])
            hidden = torch.stack(steps, dim=1)
            layers.append(hidden)
        layers.append(F.normalize(torch.relu(self.linear(hidden)), dim=-1))
        return layers, lengths // HOP + 1


def normalize_volume(wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """resemblyzer's normalize_volume(wav, -30, increase_only=True), per utterance over its valid
    samples (padding is zero, so it adds nothing to the sum). Silence stays silence."""
    rms = torch.sqrt(wavs.square().sum(1) / lengths.to(wavs.dtype))
    gain = torch.where(rms > 0, (10 ** (TARGET_DBFS / 20) / rms.clamp_min(1e-30)).clamp_min(1.0),
                       torch.ones_like(rms))
    return wavs * gain[:, None]


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (fmin 0, fmax sr/2, htk=False,
    norm="slaney"): [n_mels, n_fft // 2 + 1] float32."""
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP, _MIN_LOG_HZ, _LOGSTEP = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP


def _hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP,
                    hz / _F_SP)


def _mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


def convert_state(checkpoint: dict) -> dict:
    """resemblyzer's checkpoint -> this module's names: `model_state` less GE2E's training-only
    similarity scale and bias, `lstm.<p>_l<k>` (a stacked nn.LSTM) -> `lstm.<k>.<p>` (cells)."""
    state = {}
    for key, value in checkpoint["model_state"].items():
        if key.startswith("similarity_"):
            continue
        if key.startswith("lstm."):
            param, _, layer = key[len("lstm."):].rpartition("_l")
            key = f"lstm.{layer}.{param}"
        state[key] = value
    return state


def build(name: str, checkpoint: dict | None, seed: int) -> Ge2e:
    with seeded(seed):
        model = Ge2e()
    if checkpoint is not None:
        model.load_state_dict(convert_state(checkpoint))
    return model

