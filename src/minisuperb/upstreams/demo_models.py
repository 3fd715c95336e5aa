"""Tiny randomly initialised `transformers` models for the demo zoo and the tests.

Same front end as the real models (conv kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2: 20 ms
frames, 400-sample receptive field), but a few narrow layers so that extraction takes seconds.
HuBERT uses the Base models' group-norm front end, wav2vec 2.0 the Large models' layer-norm
("stable layer norm") variant with waveform normalisation, so the demo covers both code paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

KINDS = ("hubert", "wav2vec2")
CONV_CHANNELS = 32


def build_demo_model(kind: str, out: str | Path, seed: int, layers: int = 2, dim: int = 64) -> Path:
    """Write a `save_pretrained` directory (+ preprocessor_config.json); deterministic from seed."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    if kind not in KINDS:
        raise ValueError(f"unknown demo model kind {kind!r}; known: {KINDS}")
    large_style = kind == "wav2vec2"
    config_class, model_class = (Wav2Vec2Config, Wav2Vec2Model) if large_style else (HubertConfig, HubertModel)
    config = config_class(
        hidden_size=dim,
        num_hidden_layers=layers,
        num_attention_heads=max(1, dim // 32),
        intermediate_size=2 * dim,
        conv_dim=(CONV_CHANNELS,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer" if large_style else "group",
        do_stable_layer_norm=large_style,
    )
    torch.manual_seed(seed)
    model = model_class(config).eval()
    out = Path(out)
    model.save_pretrained(out)
    preprocessor = {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "do_normalize": large_style,
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": large_style,
        "sampling_rate": 16000,
    }
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2, sort_keys=True) + "\n")
    return out
