"""s3prl hub upstreams through `s3prl.nn.S3PRLUpstream`.

Covers the weight-free `fbank`, `mfcc`, `mel`, `spectrogram`, the hub models (`hubert`,
`wavlm_base_plus`, ... which download their checkpoint on first use) and the local-checkpoint
loaders (`hubert_local`, `wav2vec2_local`, ... with `path`).

Frame convention: S3PRLUpstream returns `ceil(L / stride)` frames per utterance (it pads a
shorter model output by repeating the last frame) and says so in the valid lengths it returns;
those lengths are what we store.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.errors import MinisuperbError
from minisuperb.upstreams.base import Upstream
from minisuperb.upstreams.s3prl_names import check_name

# s3prl hub names that need a checkpoint path: they end like this (see available_names()).
PATH_SUFFIXES = ("_local", "_url", "_custom")


class S3prlUpstream(Upstream):
    def __init__(self, model, name: str):
        super().__init__()
        from s3prl.nn.upstream import MIN_SECOND

        self.model = model
        self.name = name
        if len(set(model.hidden_sizes)) != 1 or len(set(model.downsample_rates)) != 1:
            raise MinisuperbError(
                f"s3prl upstream {name!r} has layers of different sizes {model.hidden_sizes} or "
                f"frame rates {model.downsample_rates}; the feature store needs one of each. "
                "Wrap the model in an entry point that selects compatible layers."
            )
        self.num_layers = model.num_layers
        self.dim = model.hidden_sizes[0]
        self.frame_rate = SAMPLE_RATE / model.downsample_rates[0]
        # S3PRLUpstream zero-pads a batch shorter than MIN_SECOND itself, but not a short
        # utterance inside a longer batch: kaldi fbank then asserts. Require it per utterance.
        self.min_samples = int(MIN_SECOND * SAMPLE_RATE)

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor):
        layers, layer_lengths = self.model(wavs, lengths)
        return list(layers), layer_lengths[0]


def load(entry: dict, where: str) -> S3prlUpstream:
    from s3prl.nn import S3PRLUpstream

    name = entry.get("name")
    check_name(name, where)
    path = entry.get("path")
    if name.endswith(PATH_SUFFIXES) and not path:
        raise MinisuperbError(
            f"{where}: s3prl upstream {name!r} loads a checkpoint: set `path` to the checkpoint "
            "file (or URL)."
        )
    if path and not str(path).startswith("http"):
        check_readable_file(path, where)
    try:
        model = S3PRLUpstream(name, path_or_url=path, extra_conf=entry.get("extra_conf"))
    except Exception as error:  # s3prl raises many types (assert, ValueError, pickle, OSError)
        source = f"checkpoint {path}" if path else "its checkpoint (downloaded on first use; this machine may be offline)"
        raise MinisuperbError(
            f"{where}: s3prl upstream {name!r} could not load {source}: "
            f"{type(error).__name__}: {error}. Check that the file is a complete checkpoint "
            f"for {name!r}, or place the weights in s3prl's cache."
        ) from error
    return S3prlUpstream(model, name)


def check_readable_file(path: str | os.PathLike, where: str) -> None:
    path = Path(path)
    if not path.exists():
        problem = "does not exist"
    elif not path.is_file():
        problem = "is not a file"
    elif not os.access(path, os.R_OK):
        problem = "is not readable (check its permissions)"
    else:
        return
    raise MinisuperbError(
        f"{where}: checkpoint {path} {problem}. Fix `path` in the model entry "
        "(config key models.<name>.path)."
    )
