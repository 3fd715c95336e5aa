"""Model registry: one config entry per model, one loader per kind, one interface out.

An entry (`models: <name>:` in the config) names its `loader`:
- `s3prl`: an s3prl hub name (`name`), e.g. `fbank`, `hubert`, or `hubert_local` with `path`;
- `transformers`: a Hugging Face model id or local directory (`path`);
- `entry_point`: a user's `module:function` (see `minisuperb.upstreams.entry_point`);
- `pretrained`: weights a pip package ships (`name`: ge2e, crepe_tiny, crepe_full, silero_vad),
  or with `random_init: true` (and `seed`) their untrained twin (see `minisuperb.upstreams.pretrained`).
An entry may override keys per task (`tasks: {sid: {name: fbank_no_cmvn}}`, see `task_entry`).
`load_upstream(entry)` returns an `Upstream` (see `minisuperb.upstreams.base`).

Loaders are imported on first use: importing s3prl alone takes seconds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

from typing import TYPE_CHECKING

from minisuperb.errors import MinisuperbError

if TYPE_CHECKING:  # importing torch is slow, and the Snakefile imports this module
    from minisuperb.upstreams.base import Upstream

LOADERS = {
    "s3prl": "minisuperb.upstreams.s3prl_loader",
    "transformers": "minisuperb.upstreams.hf_loader",
    "entry_point": "minisuperb.upstreams.entry_point",
    "pretrained": "minisuperb.upstreams.pretrained",
}

# Entry keys that do not change the features: left out of the extraction job's settings (its
# rerun trigger) and of the model hash, so editing them reruns nothing.
FEATURE_NEUTRAL_KEYS = ("reference", "batch_seconds")
# The installed distributions that compute features: upgrading one may change every model's
# features, so their versions are part of `model_version`.
FEATURE_PACKAGES = ("torch", "torchaudio", "espnet-s3prl", "transformers")
# Bytes read from each end of every checkpoint file for its fingerprint (see `model_hash`).
FINGERPRINT_BYTES = 1 << 20


# Loaders whose model names can be checked without torch, while the workflow plans: a misspelt
# name then fails before any job, not inside the first extraction job.
NAME_CHECKS = {
    "s3prl": "minisuperb.upstreams.s3prl_names",
    "pretrained": "minisuperb.upstreams.pretrained",
}


def check_entry(entry: dict, where: str = "the model entry") -> None:
    """Refuse an unknown loader or model name, with the closest matches (no torch imported)."""
    loader = entry.get("loader")
    if loader not in LOADERS:
        raise MinisuperbError(
            f"{where}: unknown loader {loader!r}; use one of {sorted(LOADERS)} "
            "(config key models.<name>.loader)."
        )
    if loader in NAME_CHECKS:
        importlib.import_module(NAME_CHECKS[loader]).check_name(entry.get("name"), where)


def load_upstream(entry: dict, where: str = "the model entry") -> Upstream:
    """Build the upstream an entry describes, in eval mode on the CPU."""
    check_entry(entry, where)
    upstream = importlib.import_module(LOADERS[entry["loader"]]).load(entry, where)
    return upstream.eval()


def task_entry(entry: dict, task: str) -> dict:
    """The entry one task's extraction uses: its `tasks.<task>` overrides merged over it, the
    `tasks` key dropped. The model keeps one name (one row of the ranking) while a task may use
    another variant of it, e.g. MiniSUPERB's FBANK without CMVN for SID."""
    merged = {key: value for key, value in entry.items() if key != "tasks"}
    return merged | entry.get("tasks", {}).get(task, {})


def feature_settings(entry: dict) -> dict:
    """The part of a model entry that determines its features."""
    return {key: value for key, value in entry.items() if key not in FEATURE_NEUTRAL_KEYS}


def model_hash(entry: dict) -> str:
    """sha256 of the entry's canonical JSON (less FEATURE_NEUTRAL_KEYS) plus a fingerprint of its
    local checkpoint, if any.

    Editing the entry or replacing the checkpoint at the same path changes the hash, so a store
    extracted from another model version is refused. The fingerprint takes each file's relative
    name, size and the sha256 of its first and last MiB, not the whole content: hashing a 1 GB
    checkpoint in full would cost seconds per job, and retrained weights differ everywhere.
    Modification times are left out so that copying a checkpoint keeps its hash.
    """
    payload = {"entry": feature_settings(entry), "checkpoint": _fingerprint(entry.get("path"))}
    if entry.get("loader") == "pretrained":  # the weight file inside the package (None: random twin)
        from minisuperb.upstreams.pretrained import weights_file

        payload["weights"] = _fingerprint(weights_file(entry))
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def model_version(entry: dict) -> dict:
    """What identifies a model's features beyond its store: the model hash and the versions of
    FEATURE_PACKAGES. The workflow passes it to the extraction and training jobs as a param, so
    that weights replaced at the same path, or an upgraded s3prl, rerun them."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"model_hash": model_hash(entry), "packages": {name: installed(name) for name in FEATURE_PACKAGES}}


def _fingerprint(path: str | None) -> list | None:
    if not path or not Path(path).exists():
        return None  # a hub id: the entry names the weights
    root = Path(path)
    if root.is_file():
        return [[root.name, root.stat().st_size, _ends_digest(root)]]
    # Hidden files (e.g. Snakemake's .snakemake_timestamp) are bookkeeping, not the model.
    files = sorted(
        f for f in root.rglob("*")
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts)
    )
    return [[f.relative_to(root).as_posix(), f.stat().st_size, _ends_digest(f)] for f in files]


def _ends_digest(path: Path) -> str:
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as handle:
        digest.update(handle.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            handle.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()
