"""SID: speaker identification from time-averaged features, accuracy.

As s3prl's `voxceleb1` downstream: Linear(D -> projector) -> mean over the valid frames ->
Linear(projector -> speakers), cross-entropy. The store holds one frame per SID utterance (the
per-layer time average, as MiniSUPERB extracts it), so the mean is over that one frame; the
head still takes lengths so that frame-level stores work too. Classes are the manifest `label`s
of the training speakers, renumbered 0..N-1 in increasing label order.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minisuperb.downstream import metrics
from minisuperb.downstream.tasks.base import DownstreamTask, pad_features
from minisuperb.errors import MinisuperbError
from minisuperb.tensors import padding_mask


def class_ids(train_labels: Sequence[int]) -> dict[int, int]:
    """Contiguous class ids over the training labels, independent of their order."""
    return {label: index for index, label in enumerate(sorted(set(train_labels)))}


class MeanPoolingClassifier(nn.Module):
    def __init__(self, dim: int, projector: int, classes: int):
        super().__init__()
        self.projector = nn.Linear(dim, projector)
        self.output = nn.Linear(projector, classes)

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        """[B, T, D] -> logits [B, classes]."""
        lengths = lengths.to(features.device)
        projected = self.projector(features) * padding_mask(lengths, features.shape[1])[..., None]
        pooled = projected.sum(dim=1) / lengths[:, None]
        return self.output(pooled)


class SidTask(DownstreamTask):
    name = "sid"
    metric_names = ("acc",)
    primary = "acc"
    higher_is_better = True

    def __init__(self, settings: dict, store_attrs: dict):
        super().__init__(settings, store_attrs)
        self.classes: dict[int, int] = {}

    def prepare(self, train_records: Sequence[dict]) -> None:
        self.classes = class_ids([record["label"] for record in train_records])

    def make_item(self, record: dict, features) -> dict:
        if record["label"] not in self.classes:
            raise MinisuperbError(
                f"SID utterance {record['id']!r} belongs to speaker {record.get('speaker')!r} (label "
                f"{record['label']}), who has no utterance in the training subset. Every dev/test speaker "
                "must appear in train: check the sampling (e.g. k utterances per speaker)."
            )
        return {"features": features, "label": self.classes[record["label"]]}

    def collate(self, items: list[dict]) -> dict:
        features, lengths = pad_features(items)
        return {
            "features": features,
            "lengths": lengths,
            "labels": torch.tensor([item["label"] for item in items], dtype=torch.long),
        }

    def build_head(self, dim: int) -> nn.Module:
        if not self.classes:
            raise MinisuperbError("SID has no training speakers: the train subset is empty.")
        return MeanPoolingClassifier(dim, self.settings["projector"], len(self.classes))

    def loss(self, head, features, lengths, batch) -> Tensor:
        return F.cross_entropy(head(features, lengths), batch["labels"].to(features.device))

    def predict(self, head, features, lengths, batch) -> list[dict]:
        predicted = head(features, lengths).argmax(dim=-1).cpu().tolist()
        return [{"label": label, "prediction": guess} for label, guess in zip(batch["labels"].tolist(), predicted)]

    def summarize(self, predictions: list[dict]) -> dict[str, float]:
        labels = [prediction["label"] for prediction in predictions]
        guesses = [prediction["prediction"] for prediction in predictions]
        return {"acc": metrics.accuracy(labels, guesses)}
