"""A PyTorch view of one split of a feature store, for DataLoaders with spawn-mode workers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from minisuperb.store.reader import FeatureStore


class StoreDataset(Dataset):
    """Item i is `(utt_id, features)`: features a float32 tensor `[frames, layers, dim]`.

    The store is opened (and checked) once here; workers receive the pickled index and open the
    zarr arrays themselves. Use `multiprocessing_context="spawn"` with `num_workers > 0`.
    """

    def __init__(self, path, split: str, ids: Sequence[str] | None = None,
                 layers: Sequence[int] | None = None, model_hash: str | None = None):
        self.store = FeatureStore.open(path, model_hash)
        self.split = split
        self.utt_ids = list(self.store.ids(split) if ids is None else ids)
        for utt_id in self.utt_ids:  # fail now, with the id, not in a worker mid-epoch
            self.store.num_frames(split, utt_id)
        self.layers = None if layers is None else list(layers)

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor]:
        utt_id = self.utt_ids[index]
        return utt_id, torch.from_numpy(self.store.get(self.split, utt_id, self.layers))
