"""The masking task shared by speech enhancement (SE) and separation (SS): `MaskingTask`, its
`SepRNN` head, the permutation-invariant loss, and the STFT and frame alignment it relies on.

One head for both recipes of s3prl's SE and SS downstreams, chosen by the task settings:
- s3prl v2 (`enhancement_stft2` / `separation_stft2`, what MiniSUPERB trains): sigmoid masks on
  log1p magnitudes (`mask_domain: log1p`), reconstruction expm1(mask * log1p|X|) with the input
  phase, the inverse STFT cut or zero-padded to the input length (librosa's fix_length);
- s3prl v1 (`enhancement_stft` / `separation_stft`, behind SUPERB's published SE and SS numbers):
  ReLU masks on linear magnitudes (`mask_domain: linear`) against phase-sensitive targets with
  MSE, reconstruction mask * X (the complex input STFT), the inverse STFT at the input length,
  then v1's suppression of a trailing impulse (s3prl/downstream/enhancement_stft/expert.py
  `postprocess`, the same in separation_stft).
Features are aligned to the STFT frames of the input (`hop_length`: null = the upstream's frame
step, as in both SS recipes and SE v1; a number = that hop, each feature frame repeated to reach
it, as in SE v2). The loss is utterance-level permutation invariant, which is the identity for
SE's single source. Subclasses name the references and score the estimates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from minisuperb.corpora.audio import TARGET_RATE, load
from minisuperb.downstream.tasks.base import BiLstm, DownstreamTask, pad_features
from minisuperb.errors import MinisuperbError
from minisuperb.tensors import padding_mask

# s3prl's TOLERABLE_SEQLEN_DIFF: feature and STFT frame counts may differ by less than this.
MAX_FRAME_DIFFERENCE = 5
# s3prl v1's `postprocess`: the end window searched for an impulse, and the silent tail (samples)
# beyond which a waveform is left alone.
IMPULSE_WINDOW = 512
IMPULSE_SILENT_TAIL = 2048
# The choices of the recipe settings (see the module docstring).
CHOICES = {
    "mask_activation": ("sigmoid", "relu"),
    "mask_domain": ("log1p", "linear"),
    "loss": ("l1", "mse"),
    "target": ("magnitude", "phase_sensitive"),
}
ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu}


@dataclass(frozen=True)
class Stft:
    """A centred Hann-window STFT and its inverse. The edges are zero-padded (librosa >= 0.10's
    default `pad_mode="constant"`), so an utterance of L samples has 1 + L // hop frames."""

    n_fft: int
    win_length: int
    hop_length: int

    @property
    def num_bins(self) -> int:
        return self.n_fft // 2 + 1

    def analyse(self, waveform: Tensor) -> Tensor:
        """Complex spectrum [T, F] of a 1-D waveform."""
        spectrum = torch.stft(
            waveform, self.n_fft, self.hop_length, self.win_length, self._window(waveform),
            center=True, pad_mode="constant", return_complex=True,
        )
        return spectrum.transpose(0, 1)

    def synthesise(self, spectrum: Tensor, num_samples: int, overlap_add_to_length: bool = False) -> Tensor:
        """Waveforms [..., num_samples] from complex spectra [..., T, F]: the inverse STFT, then
        truncated or zero-padded to the input length (librosa's `fix_length`, as s3prl v2); or,
        with `overlap_add_to_length`, the inverse STFT computed up to the input length, the last
        partial hop included (librosa's `istft(length=...)`, as s3prl v1)."""
        waveform = torch.istft(
            spectrum.transpose(-1, -2), self.n_fft, self.hop_length, self.win_length,
            self._window(spectrum.real), center=True, length=num_samples if overlap_add_to_length else None,
        )
        return fix_length(waveform, num_samples)

    def _window(self, like: Tensor) -> Tensor:
        return torch.hann_window(self.win_length, dtype=like.dtype, device=like.device)


def fix_length(waveform: Tensor, num_samples: int) -> Tensor:
    """Truncate or zero-pad the last axis to `num_samples`."""
    missing = num_samples - waveform.shape[-1]
    if missing <= 0:
        return waveform[..., :num_samples]
    return nn.functional.pad(waveform, (0, missing))


def frame_hop(frame_rate: float) -> int:
    """Samples per feature frame (320 for 50 Hz models, 160 for 100 Hz ones)."""
    hop = TARGET_RATE / float(frame_rate)
    if frame_rate <= 0 or not hop.is_integer():
        raise MinisuperbError(
            f"feature frame rate {frame_rate} Hz does not divide {TARGET_RATE} Hz into whole "
            "samples; SE and SS need a frame step of a whole number of samples (e.g. 50 or 100 Hz). "
            "Check the store attribute `frame_rate` of the upstream."
        )
    return int(hop)


def match_frames(features: np.ndarray, num_frames: int, utterance_id: str) -> np.ndarray:
    """Truncate or zero-pad features [T, ...] to `num_frames` STFT frames; a difference of
    `MAX_FRAME_DIFFERENCE` frames or more means the features and the audio do not belong together."""
    difference = features.shape[0] - num_frames
    if abs(difference) >= MAX_FRAME_DIFFERENCE:
        raise MinisuperbError(
            f"utterance {utterance_id}: {features.shape[0]} feature frames but {num_frames} STFT "
            f"frames (difference must stay under {MAX_FRAME_DIFFERENCE}). The features were "
            "extracted from other audio or with another frame rate; re-extract the feature store."
        )
    if difference >= 0:
        return features[:num_frames]
    padding = np.zeros((-difference, *features.shape[1:]), dtype=features.dtype)
    return np.concatenate([features, padding])


def suppress_end_impulse(waveform: Tensor) -> Tensor:
    """s3prl v1's `postprocess` of a reconstructed waveform [N]: when the last 512 samples before
    its end (its last non-zero sample) hold a sample louder than everything before them, zero
    the waveform from that sample on (a masked STFT often ends in such an impulse). Left alone:
    a waveform silent for its last 2048+ samples, or shorter than 512 samples."""
    nonzero = torch.nonzero(waveform).flatten()
    if len(nonzero) == 0:
        return waveform
    end = int(nonzero[-1]) + 1
    start = end - IMPULSE_WINDOW
    if end < waveform.shape[0] - IMPULSE_SILENT_TAIL or start <= 0:
        return waveform
    louder = torch.nonzero(waveform[start:end].abs() > waveform[:start].abs().max()).flatten()
    if len(louder) == 0:
        return waveform
    suppressed = waveform.clone()
    suppressed[start + int(louder[0]) :] = 0.0
    return suppressed


def phase_sensitive_target(mixture: Tensor, source: Tensor) -> Tensor:
    """|S| * max(0, cos(angle X - angle S)): the part of the source magnitude in phase with the
    mixture, the best a real mask on the mixture can reach (s3prl's NPSM target)."""
    cosine = torch.cos(torch.angle(mixture) - torch.angle(source))
    return source.abs() * cosine.clamp(min=0.0)


class SepRNN(nn.Module):
    """s3prl's SepRNN: a BiLSTM over the (unprojected) features, dropout, then one
    Linear(2*hidden -> bins) + activation (sigmoid or ReLU) per source. Returns masks
    [B, sources, T, bins]."""

    def __init__(self, input_dim: int, num_bins: int, num_masks: int, hidden_size: int, num_layers: int,
                 dropout: float, activation: str = "sigmoid"):
        super().__init__()
        self.lstm = BiLstm(input_dim, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.masks = nn.ModuleList(nn.Linear(2 * hidden_size, num_bins) for _ in range(num_masks))
        self.activation = ACTIVATIONS[activation]

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        hidden = self.dropout(self.lstm(features, lengths))
        return torch.stack([self.activation(linear(hidden)) for linear in self.masks], dim=1)


def permutation_invariant_loss(estimates: Tensor, targets: Tensor, lengths: Tensor, distance: str) -> Tensor:
    """Utterance-level PIT on spectra [B, S, T, F]: per utterance, the minimum over source
    permutations of sum_s sum_{t,f} d(estimate_s, target_perm(s)) / (frames * S), then the batch
    mean: s3prl's MSELoss (v1) and its v2 L1/MSE losses alike."""
    valid = padding_mask(lengths, estimates.shape[2]).float()[:, None, :, None]  # [B, 1, T, 1]
    num_sources = estimates.shape[1]
    normaliser = lengths.to(estimates.dtype) * num_sources
    per_permutation = []
    for permutation in itertools.permutations(range(num_sources)):
        difference = (estimates - targets[:, list(permutation)]) * valid
        error = difference.abs() if distance == "l1" else difference.pow(2)
        per_permutation.append(error.sum(dim=(1, 2, 3)) / normaliser)
    return torch.stack(per_permutation).min(dim=0).values.mean()


class MaskingTask(DownstreamTask):
    """The SE/SS machinery. Subclasses set `num_sources` and `metric_names`, and implement
    `reference_paths` and `score`; the recipe comes from the settings (module docstring)."""

    num_sources: int

    def __init__(self, settings: dict, store_attrs: dict):
        super().__init__(settings, store_attrs)
        self.frame_rate = float(store_attrs["frame_rate"])
        self.recipe = {key: self.choice(key) for key in CHOICES}
        self.transform = self.stft()
        self.feature_step = frame_hop(self.frame_rate)

    # --- task specifics ---
    def reference_paths(self, record: dict) -> list[str]:
        raise NotImplementedError

    def score(self, references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
        """Per-utterance metrics of estimates [S, N] against references [S, N]."""
        raise NotImplementedError

    # --- the recipe ---
    def setting(self, key: str):
        """A head or STFT setting of the protocol, named in the error when it is missing."""
        if key not in self.settings:
            raise MinisuperbError(
                f"the {self.name} settings lack {key!r}; set it in the protocol's {self.name} block "
                "(config/protocols.yaml, or protocols: in the workflow config)."
            )
        return self.settings[key]

    def choice(self, key: str) -> str:
        value = self.setting(key)
        if value not in CHOICES[key]:
            raise MinisuperbError(
                f"the {self.name} setting {key} is {value!r}; use one of {', '.join(CHOICES[key])}."
            )
        return value

    def stft(self) -> Stft:
        """`hop_length` null: the upstream's frame step (one feature frame per STFT frame)."""
        hop = self.setting("hop_length")
        hop = frame_hop(self.frame_rate) if hop is None else int(hop)
        return Stft(int(self.setting("n_fft")), int(self.setting("win_length")), hop)

    def upsample(self, features: np.ndarray) -> np.ndarray:
        """Feature frames at the STFT hop: each STFT frame takes the feature frame that starts at or
        before it. For a step that is a whole multiple of the hop this is s3prl v2's repetition
        (20 ms features twice for a 10 ms hop); other steps (Silero's 32 ms) work the same way."""
        frames = -(-len(features) * self.feature_step // self.transform.hop_length)
        return features[np.arange(frames) * self.transform.hop_length // self.feature_step]

    def targets(self, mixture: Tensor, references: Tensor) -> Tensor:
        """Target magnitudes [S, T, F] from the input spectrum [T, F] and the references' [S, T, F]."""
        if self.recipe["target"] == "phase_sensitive":
            return phase_sensitive_target(mixture[None], references)
        return references.abs()

    def compress(self, magnitude: Tensor) -> Tensor:
        """Magnitudes in the domain the masks act on and the loss compares."""
        return torch.log1p(magnitude) if self.recipe["mask_domain"] == "log1p" else magnitude

    # --- the DownstreamTask interface ---
    def make_item(self, record: dict, features: np.ndarray) -> dict:
        mixture = load(record["path"])
        references = np.stack([self._load_reference(path, mixture.shape[0], record) for path in self.reference_paths(record)])
        mixture_spectrum = self.transform.analyse(torch.from_numpy(mixture))
        reference_spectra = torch.stack([self.transform.analyse(torch.from_numpy(wav)) for wav in references])
        aligned = match_frames(
            self.upsample(features), mixture_spectrum.shape[0], record["id"]
        )
        return {
            "id": record["id"],
            "features": aligned,
            "mixture_spectrum": mixture_spectrum,
            "targets": self.targets(mixture_spectrum, reference_spectra),
            "mixture": mixture,
            "references": references,
        }

    def collate(self, items: list[dict]) -> dict:
        features, lengths = pad_features(items)
        num_frames = features.shape[1]
        spectra = torch.zeros((len(items), num_frames, self.transform.num_bins), dtype=torch.complex64)
        targets = torch.zeros((len(items), self.num_sources, num_frames, self.transform.num_bins))
        for row, item in enumerate(items):
            spectra[row, : item["mixture_spectrum"].shape[0]] = item["mixture_spectrum"]
            targets[row, :, : item["targets"].shape[1]] = item["targets"]
        return {
            "features": features,
            "lengths": lengths,
            "ids": [item["id"] for item in items],
            "mixture_spectrum": spectra,
            "targets": targets,
            "mixtures": [item["mixture"] for item in items],
            "references": [item["references"] for item in items],
        }

    def build_head(self, dim: int) -> nn.Module:
        return SepRNN(
            dim,
            self.transform.num_bins,
            self.num_sources,
            hidden_size=int(self.setting("hidden")),
            num_layers=int(self.setting("layers")),
            dropout=float(self.setting("dropout")),
            activation=self.recipe["mask_activation"],
        )

    def loss(self, head: nn.Module, features: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        masks = head(features, lengths)
        mixture = self.compress(batch["mixture_spectrum"].to(features.device).abs())[:, None]
        targets = self.compress(batch["targets"].to(features.device))
        return permutation_invariant_loss(masks * mixture, targets, lengths.to(features.device), self.recipe["loss"])

    def predict(self, head: nn.Module, features: Tensor, lengths: Tensor, batch: dict) -> list[dict]:
        masks = head(features, lengths).cpu()
        results = []
        for row, utterance_id in enumerate(batch["ids"]):
            frames = int(lengths[row])
            mixture = batch["mixtures"][row]
            estimates = self.reconstruct(masks[row, :, :frames], batch["mixture_spectrum"][row, :frames], mixture.shape[0])
            try:
                scores = self.score(batch["references"][row], estimates.numpy(), mixture)
            except MinisuperbError as error:
                raise MinisuperbError(f"scoring utterance {utterance_id} of task {self.name}: {error}") from error
            results.append({"id": utterance_id, **scores})
        return results

    def summarize(self, predictions: list[dict]) -> dict[str, float]:
        """Split score = mean over utterances, as s3prl (`np.mean` of the per-utterance values)."""
        if not predictions:
            raise MinisuperbError(f"task {self.name}: no predictions to summarize; the evaluation split is empty.")
        return {name: float(np.mean([prediction[name] for prediction in predictions])) for name in self.metric_names}

    def reconstruct(self, masks: Tensor, mixture_spectrum: Tensor, num_samples: int) -> Tensor:
        """Waveforms [S, N]: v2 (log1p) magnitude expm1(mask * log1p|X|) with the input phase;
        v1 (linear) mask * X, then the trailing-impulse suppression."""
        if self.recipe["mask_domain"] == "log1p":
            magnitude = torch.expm1(masks * torch.log1p(mixture_spectrum.abs()))
            spectrum = torch.polar(magnitude, torch.angle(mixture_spectrum).expand_as(magnitude))
            return self.transform.synthesise(spectrum, num_samples)
        waveforms = self.transform.synthesise(masks * mixture_spectrum, num_samples, overlap_add_to_length=True)
        return torch.stack([suppress_end_impulse(waveform) for waveform in waveforms])

    def _load_reference(self, path: str, num_samples: int, record: dict) -> np.ndarray:
        reference = load(path)
        if reference.shape[0] != num_samples:
            raise MinisuperbError(
                f"utterance {record['id']}: {path} has {reference.shape[0]} samples but the input "
                f"{record['path']} has {num_samples}; the reference and input audio must be the same "
                "length. Check that the manifest pairs the right files."
            )
        return reference
