"""Checkpoints and RNG state: what lets a killed training job resume exactly.

`checkpoint-last.pt` holds the head, featurizer, optimizer, progress and the torch/numpy/python
RNG states; `checkpoint-best.pt` the weights of the best dev evaluation. Both are written
atomically, and both carry the run's fingerprint: a checkpoint written for other settings, data
or features is never resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from minisuperb.files import write_atomic

if TYPE_CHECKING:
    from minisuperb.downstream.loop import RunSpec

log = logging.getLogger(__name__)

LAST_CHECKPOINT = "checkpoint-last.pt"
BEST_CHECKPOINT = "checkpoint-best.pt"


def save_checkpoint(payload: dict, path: Path) -> None:
    write_atomic(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    # Not weights_only: the payload holds numpy and python RNG states.
    return torch.load(path, map_location=device, weights_only=False)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def run_fingerprint(spec: RunSpec, store_attrs: dict, records: dict[str, list[dict]]) -> str:
    """Identifies what a checkpoint was trained on: a checkpoint from other settings, data or
    features must not be resumed."""
    identity = {
        "task": spec.task, "model": spec.model, "seed": spec.seed, "train_seed": spec.train_seed,
        "settings": spec.settings,
        "model_hash": store_attrs.get("model_hash"), "store_id": store_attrs.get("store_id"),
        "ids": {split: [record["id"] for record in split_records] for split, split_records in records.items()},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def load_resumable(path: Path, fingerprint: str) -> dict | None:
    """The checkpoint at `path` if it exists and was written for this fingerprint."""
    if not path.is_file():
        return None
    checkpoint = read_checkpoint(path)
    if checkpoint.get("fingerprint") != fingerprint:
        log.warning("ignoring %s: it was written for other settings, data or features", path)
        return None
    return checkpoint
