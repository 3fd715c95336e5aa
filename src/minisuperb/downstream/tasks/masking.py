"""The masking task shared by speech enhancement (SE) and separation (SS): `MaskingTask`, its
`SepRNN` head, the permutation-invariant loss, and the STFT and frame alignment it relies on.

Both tasks follow s3prl's `enhancement_stft2` / `separation_stft2` (the MiniSUPERB versions):
features aligned to the STFT frames of the input, a BiLSTM (`SepRNN`) predicting one sigmoid
mask per output source, a loss on log1p magnitudes (utterance-level permutation invariant, which
is the identity for SE's single source), and reconstruction as expm1(mask * log1p|X|) with the
input phase. Subclasses choose the STFT, the target spectra, the distance and the metrics.
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

    def synthesise(self, spectrum: Tensor, num_samples: int) -> Tensor:
        """Waveforms [..., num_samples] from complex spectra [..., T, F]: the inverse STFT, then
        truncated or zero-padded to the input length (librosa's `fix_length`, as s3prl v2)."""
        waveform = torch.istft(
            spectrum.transpose(-1, -2), self.n_fft, self.hop_length, self.win_length,
            self._window(spectrum.real), center=True,
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


def phase_sensitive_target(mixture: Tensor, source: Tensor) -> Tensor:
    """|S| * max(0, cos(angle X - angle S)): the part of the source magnitude in phase with the
    mixture, the best a real mask on the mixture can reach (s3prl's NPSM target)."""
    cosine = torch.cos(torch.angle(mixture) - torch.angle(source))
    return source.abs() * cosine.clamp(min=0.0)


class SepRNN(nn.Module):
    """s3prl's SepRNN: a BiLSTM over the (unprojected) features, dropout, then one
    Linear(2*hidden -> bins) + sigmoid per source. Returns masks [B, sources, T, bins]."""

    def __init__(self, input_dim: int, num_bins: int, num_masks: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.lstm = BiLstm(input_dim, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.masks = nn.ModuleList(nn.Linear(2 * hidden_size, num_bins) for _ in range(num_masks))

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        hidden = self.dropout(self.lstm(features, lengths))
        return torch.stack([torch.sigmoid(linear(hidden)) for linear in self.masks], dim=1)


def permutation_invariant_loss(estimates: Tensor, targets: Tensor, lengths: Tensor, distance: str) -> Tensor:
    """Utterance-level PIT on log1p spectra [B, S, T, F]: per utterance, the minimum over source
    permutations of sum_s sum_{t,f} d(estimate_s, target_perm(s)) / (frames * S), then the batch
    mean. With one source (SE) this is s3prl's per-utterance L1 divided by the frame count."""
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
    """The SE/SS machinery. Subclasses set `num_sources`, `distance` and `metric_names`, and
    implement `stft`, `feature_repeat`, `reference_paths`, `targets` and `score`."""

    num_sources: int
    distance: str  # "l1" | "mse", on log1p magnitudes

    def __init__(self, settings: dict, store_attrs: dict):
        super().__init__(settings, store_attrs)
        self.frame_rate = float(store_attrs["frame_rate"])
        self.transform = self.stft()
        self.repeat = self.feature_repeat()  # validated here, so a wrong frame rate fails before training

    # --- task specifics ---
    def stft(self) -> Stft:
        raise NotImplementedError

    def feature_repeat(self) -> int:
        """How many times each feature frame is repeated to reach the STFT frame rate."""
        raise NotImplementedError

    def reference_paths(self, record: dict) -> list[str]:
        raise NotImplementedError

    def targets(self, mixture: Tensor, references: Tensor) -> Tensor:
        """Target magnitudes [S, T, F] from the input spectrum [T, F] and the references' [S, T, F]."""
        raise NotImplementedError

    def score(self, references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
        """Per-utterance metrics of estimates [S, N] against references [S, N]."""
        raise NotImplementedError

    def setting(self, key: str):
        """A head or STFT setting of the protocol, named in the error when it is missing."""
        if key not in self.settings:
            raise MinisuperbError(
                f"the {self.name} settings lack {key!r}; set it in the protocol's {self.name} block "
                "(config/protocols.yaml, or protocols: in the workflow config)."
            )
        return self.settings[key]

    # --- the DownstreamTask interface ---
    def make_item(self, record: dict, features: np.ndarray) -> dict:
        mixture = load(record["path"])
        references = np.stack([self._load_reference(path, mixture.shape[0], record) for path in self.reference_paths(record)])
        mixture_spectrum = self.transform.analyse(torch.from_numpy(mixture))
        reference_spectra = torch.stack([self.transform.analyse(torch.from_numpy(wav)) for wav in references])
        aligned = match_frames(
            np.repeat(features, self.repeat, axis=0), mixture_spectrum.shape[0], record["id"]
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
        )

    def loss(self, head: nn.Module, features: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        masks = head(features, lengths)
        log_mixture = torch.log1p(batch["mixture_spectrum"].to(features.device).abs())[:, None]
        log_targets = torch.log1p(batch["targets"].to(features.device))
        return permutation_invariant_loss(masks * log_mixture, log_targets, lengths.to(features.device), self.distance)

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
        """Waveforms [S, N]: magnitude expm1(mask * log1p|X|) with the input phase (s3prl v2)."""
        magnitude = torch.expm1(masks * torch.log1p(mixture_spectrum.abs()))
        spectrum = torch.polar(magnitude, torch.angle(mixture_spectrum).expand_as(magnitude))
        return self.transform.synthesise(spectrum, num_samples)

    def _load_reference(self, path: str, num_samples: int, record: dict) -> np.ndarray:
        reference = load(path)
        if reference.shape[0] != num_samples:
            raise MinisuperbError(
                f"utterance {record['id']}: {path} has {reference.shape[0]} samples but the input "
                f"{record['path']} has {num_samples}; the reference and input audio must be the same "
                "length. Check that the manifest pairs the right files."
            )
        return reference
