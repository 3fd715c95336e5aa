"""What the trainer reads: the split records, the task's items made from the feature store, and
the order in which they are batched.

The order of training batches is a pure function of (seed, micro-step), so that a resumed run
needs only its step to continue exactly where the killed one stopped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from minisuperb.corpora.manifest import read_manifest, read_subset_list, select
from minisuperb.downstream.tasks.base import DownstreamTask
from minisuperb.errors import MinisuperbError


def load_split(manifest_dir: Path, subset_dir: Path, split: str) -> list[dict]:
    """The manifest records of the split's subset list (checked against the record `subsample`
    wrote beside it); an empty list is an error."""
    subset_path = Path(subset_dir) / f"{split}.txt"
    ids = read_subset_list(subset_dir, split)
    if not ids:
        raise MinisuperbError(
            f"subset list {subset_path} is empty: the {split} split has no utterances. Check the "
            "sampling (fraction, count or k) and the corpus, then rerun the data stage."
        )
    return select(read_manifest(Path(manifest_dir) / f"{split}.jsonl"), ids, where=str(subset_path))


class TaskItems(Dataset):
    """The task's items of one split, made on demand from the store (a `FeatureStore`, which
    pickles without its zarr handles and reopens them in each worker).

    Made items are kept while they fit in `memory_bytes` (per process: each loader worker keeps
    its own): a head reads every item many times, and making one costs a zarr read (~2 ms) plus,
    for SE and SS, decoding, resampling and STFTs of its audio, 10-20% of a demo head's time.
    Items are never changed after they are made (every `collate` copies), so a kept item is the
    item made again."""

    def __init__(self, task: DownstreamTask, store, split: str, records: list[dict], memory_bytes: int = 0):
        self.task, self.store, self.split, self.records = task, store, split, records
        self.memory_bytes = memory_bytes
        self._kept: dict[int, dict] = {}
        self._kept_bytes = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        if index in self._kept:
            return self._kept[index]
        record = self.records[index]
        item = self.task.make_item(record, self.store.get(self.split, record["id"]))
        size = item_bytes(item)
        if self._kept_bytes + size <= self.memory_bytes:
            self._kept[index] = item
            self._kept_bytes += size
        return item

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_kept": {}, "_kept_bytes": 0}  # workers keep their own


def item_bytes(item: dict) -> int:
    """The bytes of an item's arrays and tensors (its other values are small)."""
    def size(value) -> int:
        if isinstance(value, torch.Tensor):
            return value.nelement() * value.element_size()
        return getattr(value, "nbytes", 0)
    return sum(size(value) for value in item.values())


def training_batch(num_items: int, batch_size: int, seed: int, micro_step: int) -> list[int]:
    """The item indices of forward pass `micro_step` (0-based): epochs are seeded permutations
    cut into batches (the last one may be smaller)."""
    batches_per_epoch = math.ceil(num_items / batch_size)
    epoch, position = divmod(micro_step, batches_per_epoch)
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[position * batch_size : (position + 1) * batch_size].tolist()


def training_batches(num_items: int, batch_size: int, seed: int, first_micro_step: int) -> Iterator[list[int]]:
    micro_step = first_micro_step
    while True:
        yield training_batch(num_items, batch_size, seed, micro_step)
        micro_step += 1


def eval_batches(num_items: int, batch_size: int) -> list[list[int]]:
    return [list(range(start, min(start + batch_size, num_items))) for start in range(0, num_items, batch_size)]


def make_loader(items: TaskItems, batches, num_workers: int, seed: int) -> DataLoader:
    """The one DataLoader of training and evaluation. Workers are spawned, never forked: zarr's
    event-loop thread does not survive a fork (see `minisuperb.store.reader`)."""
    return DataLoader(
        items, batch_sampler=batches, collate_fn=items.task.collate, num_workers=num_workers,
        multiprocessing_context="spawn" if num_workers > 0 else None,
        # A private generator: otherwise creating the iterator draws from the global torch RNG,
        # and a resumed run would draw once more than an uninterrupted one.
        generator=torch.Generator().manual_seed(seed),
    )
