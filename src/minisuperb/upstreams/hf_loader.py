"""Hugging Face `transformers` speech encoders (wav2vec 2.0, HuBERT, WavLM, data2vec-audio, ...)
by hub id or local directory.

Hidden states follow s3prl's hooks: the input of every transformer layer plus the encoder's
output, N + 1 states. For the pre-LN ("stable layer norm", Large) models the last state is after
the encoder's final LayerNorm, as in s3prl; transformers' own `hidden_states[-1]` is before it.

Frame convention: the true conv output count, floor((L - 400) / 320) + 1 for the usual front end
(`model._get_feat_extract_output_lengths`).

Batching is exact: the group norm in the conv front end of wav2vec 2.0 / HuBERT Base normalises
over time, so in a padded batch its statistics are taken over each utterance's valid frames
only; the transformer runs with an attention mask. transformers' own batched forward does
neither for these models (their feature extractors set return_attention_mask=False).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
from torch import nn

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.errors import MinisuperbError
from minisuperb.tensors import padding_mask
from minisuperb.upstreams.base import Upstream

log = logging.getLogger(__name__)

REQUIRED_PARTS = ("feature_extractor", "feature_projection", "encoder", "_get_feat_extract_output_lengths")
NORMALIZE_EPS = 1e-7  # transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm


class HfUpstream(Upstream):
    def __init__(self, model, normalize_waveform: bool):
        super().__init__()
        config = model.config
        self.model = model
        self.normalize_waveform = normalize_waveform
        self.num_layers = config.num_hidden_layers + 1
        self.dim = config.hidden_size
        self.frame_rate = SAMPLE_RATE / math.prod(config.conv_stride)
        self.min_samples = receptive_field(config.conv_kernel, config.conv_stride)

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor):
        if self.normalize_waveform:
            wavs = zero_mean_unit_variance(wavs, lengths)
        frame_lengths = self.model._get_feat_extract_output_lengths(lengths).long()
        features = self._conv_features(wavs, lengths)
        mask = padding_mask(frame_lengths, features.shape[1])
        states = []
        hooks = [layer.register_forward_pre_hook(lambda _, args: states.append(args[0]))
                 for layer in self.model.encoder.layers]
        try:
            projected = self.model.feature_projection(features)
            # wav2vec 2.0 / WavLM return (projected, normalised input); HuBERT the projection.
            projected = projected[0] if isinstance(projected, tuple) else projected
            output = self.model.encoder(projected, attention_mask=mask)
        finally:
            for hook in hooks:
                hook.remove()
        return states + [output[0]], frame_lengths

    def _conv_features(self, wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, frames, channels] conv features, exact for every utterance's valid frames.

        The convs have no padding, so a valid output frame only sees valid input frames; only a
        group norm (over time, in the first layer of group-norm models) would mix in padding, so
        its statistics are taken over each utterance's valid frames."""
        hidden, valid = wavs[:, None], lengths
        for conv_layer in self.model.feature_extractor.conv_layers:
            valid = (valid - conv_layer.conv.kernel_size[0]) // conv_layer.conv.stride[0] + 1
            norm = getattr(conv_layer, "layer_norm", None)
            if isinstance(norm, nn.GroupNorm):
                hidden = conv_layer.conv(hidden)
                unpadded = bool((valid == hidden.shape[-1]).all())  # then torch's kernel is exact
                hidden = conv_layer.activation(norm(hidden) if unpadded else masked_group_norm(hidden, valid, norm))
            else:
                hidden = conv_layer(hidden)
        return hidden.transpose(1, 2)


def masked_group_norm(x: torch.Tensor, valid: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """`norm(x)` for x [B, C, T] with each row's statistics over its first `valid` frames only.
    Statistics in float32 (sums over ~10^5 frames overflow float16 under autocast)."""
    batch, channels, frames = x.shape
    grouped = x.float().reshape(batch, norm.num_groups, channels // norm.num_groups, frames)
    mask = padding_mask(valid, frames)[:, None, None, :].to(grouped.dtype)
    count = (valid * (channels // norm.num_groups)).to(grouped.dtype)[:, None, None, None]
    mean = (grouped * mask).sum((2, 3), keepdim=True) / count
    centered = grouped - mean
    variance = (centered * centered * mask).sum((2, 3), keepdim=True) / count
    normalised = (centered * torch.rsqrt(variance + norm.eps)).reshape(batch, channels, frames)
    return normalised * norm.weight[None, :, None] + norm.bias[None, :, None]


def load(entry: dict, where: str) -> HfUpstream:
    from transformers import AutoModel

    source = entry.get("path")
    if not source:
        raise MinisuperbError(f"{where}: a transformers model needs `path` (a hub id or a local directory).")
    local = Path(source).exists()
    if local and not (Path(source) / "config.json").is_file():
        raise MinisuperbError(
            f"{where}: {source} has no config.json, so it is not a transformers model directory. "
            "Point `path` at the folder written by `save_pretrained`."
        )
    try:
        model = AutoModel.from_pretrained(source, local_files_only=local)
    except Exception as error:  # transformers raises OSError, ValueError, safetensors errors, ...
        hint = ("Check that the directory holds complete weights (model.safetensors or "
                "pytorch_model.bin)" if local else
                "It is neither a local directory nor a cached hub id, and this machine may be offline")
        raise MinisuperbError(
            f"{where}: cannot load transformers model {source!r}: {type(error).__name__}: "
            f"{error}. {hint}."
        ) from error
    missing = [part for part in REQUIRED_PARTS if not hasattr(model, part)]
    if missing:
        raise MinisuperbError(
            f"{where}: transformers model {source!r} ({type(model).__name__}) is not a "
            f"wav2vec 2.0-style speech encoder (it lacks {', '.join(missing)}). Use the "
            "entry_point loader for other architectures."
        )
    return HfUpstream(model, reads_normalized_waveforms(source, local))


def reads_normalized_waveforms(source: str, local: bool) -> bool:
    """Whether the model was trained on zero-mean unit-variance waveforms (`do_normalize` of its
    feature extractor, e.g. wav2vec 2.0 Large-LV60)."""
    if local:
        path = Path(source) / "preprocessor_config.json"
        return path.is_file() and bool(json.loads(path.read_text()).get("do_normalize", False))
    from transformers import AutoFeatureExtractor

    try:
        return bool(getattr(AutoFeatureExtractor.from_pretrained(source), "do_normalize", False))
    except OSError:
        log.warning("no feature extractor config for %s: waveforms are not normalised", source)
        return False


def zero_mean_unit_variance(wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Normalise each utterance over its valid samples; padding stays zero."""
    mask = padding_mask(lengths, wavs.shape[1]).to(wavs.dtype)
    count = lengths.to(wavs.dtype)[:, None]
    mean = (wavs * mask).sum(1, keepdim=True) / count
    variance = (((wavs - mean) * mask) ** 2).sum(1, keepdim=True) / count
    return (wavs - mean) / torch.sqrt(variance + NORMALIZE_EPS) * mask


def receptive_field(kernels, strides) -> int:
    """Samples one output frame of the conv front end sees (400 for wav2vec 2.0)."""
    field = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        field = (field - 1) * stride + kernel
    return field
