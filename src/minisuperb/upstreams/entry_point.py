"""Your own model through a Python entry point.

Write a function that returns the model, and name it in the config:

```yaml
models:
  my_model:
    loader: entry_point
    entry_point: my_package.my_module:build   # importable from the workflow's Python
    kwargs: {checkpoint: /path/to/weights.pt}   # optional, passed to build(**kwargs)
```

The returned object must have
- `forward(wavs, lengths) -> list of [B, T, D] tensors`: `wavs` is a float32 [B, S] batch of
  zero-padded 16 kHz waveforms, `lengths` [B] their true sample counts; return every hidden
  state you want stored (all the same D and T);
- `frame_rate`: frames per second.
Optional:
- `frame_lengths(lengths) -> LongTensor [B]`: the true frame count of each utterance (default
  `ceil(L * frame_rate / 16000)`, capped at T);
- `min_samples`: the shortest input the model accepts (default 1).
Make it an `nn.Module` so that its MACs are counted. If its output for an utterance depends on the
padding around it, extraction detects that and runs it one utterance at a time.
`minisuperb.upstreams.example_entry_point:build` is a complete example.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.errors import MinisuperbError
from minisuperb.upstreams.base import Upstream

PROBE_SECONDS = 1.0  # audio used once at load time to discover the layer count and size


class EntryPointUpstream(Upstream):
    def __init__(self, model, where: str):
        super().__init__()
        if isinstance(model, nn.Module):
            self.model = model  # registered as a sub-module: MACs and .to(device) reach it
        else:
            self._plain_model = model
        self.frame_rate = float(model.frame_rate)
        self.min_samples = int(getattr(model, "min_samples", 1))
        probe = torch.zeros(1, int(PROBE_SECONDS * SAMPLE_RATE))
        with torch.inference_mode():
            layers, _ = self.forward(probe, torch.tensor([probe.shape[1]]))
        dims = {layer.shape[-1] for layer in layers}
        if not layers or len(dims) != 1:
            raise MinisuperbError(
                f"{where}: the entry point returned {len(layers)} layers with sizes {sorted(dims)}; "
                "return a non-empty list of [B, T, D] tensors with one D."
            )
        self.num_layers = len(layers)
        self.dim = dims.pop()

    @property
    def wrapped(self):
        return self.model if hasattr(self, "model") else self._plain_model

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor):
        layers = list(self.wrapped.forward(wavs, lengths))
        max_frames = layers[0].shape[1]
        if hasattr(self.wrapped, "frame_lengths"):
            frame_lengths = self.wrapped.frame_lengths(lengths)
        else:
            frame_lengths = torch.ceil(lengths * (self.frame_rate / SAMPLE_RATE))
        return layers, frame_lengths.long().clamp(max=max_frames)


def load(entry: dict, where: str) -> EntryPointUpstream:
    target = entry.get("entry_point", "")
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise MinisuperbError(f"{where}: entry_point {target!r} must look like 'package.module:function'.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise MinisuperbError(
            f"{where}: cannot import module {module_name!r} of entry_point {target!r}: {error}. "
            "Install the package or add its folder to PYTHONPATH."
        ) from error
    build = getattr(module, function_name, None)
    if not callable(build):
        raise MinisuperbError(f"{where}: module {module_name!r} has no function {function_name!r} (entry_point {target!r}).")
    model = build(**entry.get("kwargs", {}))
    if not callable(getattr(model, "forward", None)) or not hasattr(model, "frame_rate"):
        raise MinisuperbError(
            f"{where}: {target} returned {type(model).__name__}, which lacks `forward(wavs, "
            "lengths)` or `frame_rate`; see minisuperb.upstreams.entry_point for the interface."
        )
    return EntryPointUpstream(model, where)
