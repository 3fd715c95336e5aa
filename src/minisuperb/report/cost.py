"""The cost of an evaluation in multiply-accumulates (MACs), MiniSUPERB against full SUPERB.

How MACs are counted (the report states the same):
- MiniSUPERB upstream: the frozen upstream runs once per utterance of the subsets (train, dev,
  test), at extraction: `macs_per_second` (from the extraction summary) x the audio seconds of
  the subset lists (their hours in the data stage's stats.json).
- MiniSUPERB downstream: `macs.train` and `macs.eval` of each metrics.json, as the trainer
  counted them (thop forward MACs per frame of the head, LSTM included, plus the featurizer; x 3
  per training frame for forward + backward; every dev evaluation and the test), averaged over
  the run's seeds.
- Full SUPERB, counted for the same upstream on the full datasets with SUPERB's own protocol
  (`report.superb_protocol`): the upstream runs on every training example of every step
  (steps x batch x mean training-utterance seconds) and on every evaluation pass over dev/test;
  the head's forward MACs per frame are counted analytically from its layers (`head_macs`),
  x 3 for a training example (forward + backward, backward ~ 2 x forward), x 1 for evaluation.
  Element-wise operations, biases, STFTs and utterance-level classifiers are left out: they are
  a small fraction of the matrix products.
- Reduction = 1 - MiniSUPERB / SUPERB, per (model, task), per model and in total.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from minisuperb.catalog import SPLITS
from minisuperb.errors import MinisuperbError

TRAIN_FACTOR = 3  # MACs of one training example = forward + backward (~2 x forward)

# Keys of the extraction summary results/features/{model}/{task}.json (the store attributes).
SUMMARY_MACS_PER_SECOND = "macs_per_second"
SUMMARY_DIM = "dim"
SUMMARY_FRAME_RATE = "frame_rate"
SUMMARY_WALL_TIME = "wall_time_s"
SUMMARY_BYTES = "bytes_on_disk"
SUMMARY_KEYS = (SUMMARY_MACS_PER_SECOND, SUMMARY_DIM, SUMMARY_FRAME_RATE, SUMMARY_WALL_TIME, SUMMARY_BYTES)


def linear_macs(n_in: int, n_out: int) -> int:
    return n_in * n_out


def lstm_macs(n_in: int, hidden: int, directions: int = 2) -> int:
    """One LSTM layer, one frame: four gates, each a product with the input and the state."""
    return directions * 4 * hidden * (n_in + hidden)


def head_macs(layers: Sequence[Mapping], input_dim: int) -> int:
    """Forward MACs per frame of a head described as layers, e.g.
    `[{linear: 1024}, {blstm: 1024}, {blstm: 1024}, {linear: 32}]`; `copies: k` repeats a
    layer on the same input (the two mask outputs of separation)."""
    total, width = 0, input_dim
    for layer in layers:
        copies = int(layer.get("copies", 1))
        if "linear" in layer:
            total += copies * linear_macs(width, int(layer["linear"]))
            width = int(layer["linear"])
        elif "blstm" in layer:
            total += copies * lstm_macs(width, int(layer["blstm"]))
            width = 2 * int(layer["blstm"])
        else:
            raise MinisuperbError(
                f"head layer {dict(layer)} in report.superb_protocol: use {{linear: N}} or {{blstm: N}}."
            )
    return total


def train_seconds_per_utterance(protocol: Mapping) -> float:
    """Mean seconds of one training example: the corpus mean, cut at the training crop."""
    mean = protocol["train_hours"] * 3600.0 / protocol["train_utterances"]
    crop = protocol.get("crop_seconds")
    return min(mean, crop) if crop else mean


def superb_task_cost(protocol: Mapping, macs_per_second: float, dim: int, frame_rate: float) -> dict:
    """MACs of the full SUPERB protocol of one task for one upstream (see the module doc)."""
    train_seconds = protocol["steps"] * protocol["batch_size"] * train_seconds_per_utterance(protocol)
    eval_seconds = sum(part["passes"] * part["hours"] * 3600.0 for part in protocol["eval"])
    head_per_second = head_macs(protocol["head"], dim) * frame_rate
    return {
        "upstream": macs_per_second * (train_seconds + eval_seconds),
        "downstream_train": TRAIN_FACTOR * head_per_second * train_seconds,
        "downstream_eval": head_per_second * eval_seconds,
    }


def run_task_cost(macs_per_second: float, extracted_seconds: float, train_macs: Sequence[float],
                   eval_macs: Sequence[float]) -> dict:
    """MACs of one evaluation of a task by a run of this workflow: extraction once, plus the
    trainer's measured downstream MACs (mean over the run's seeds)."""
    return {
        "upstream": macs_per_second * extracted_seconds,
        "downstream_train": _mean(train_macs),
        "downstream_eval": _mean(eval_macs),
    }


def reduction_percent(mini: float, superb: float) -> float:
    return 100.0 * (1.0 - mini / superb) if superb > 0 else math.nan


def subset_seconds(stats: Mapping, sampling: str, seed: int, task: str) -> float:
    """Audio seconds of a run's subset lists (train, dev and test) of one task, from the task's
    stats.json (`minisuperb extract-list`: seconds per split of each subset <sampling>/seed<seed>)."""
    name = f"{sampling}/seed{seed}"
    subsets = stats["subsets"]
    if name not in subsets:
        raise MinisuperbError(
            f"the stats.json of task {task} has no subset {name} (it has: {', '.join(sorted(subsets)) or 'none'}); "
            "the run's sampling or seed is not in the config the data stage ran with: rerun the data stage."
        )
    return sum(subsets[name][split]["seconds"] for split in SPLITS)


def read_stats(path: str | Path) -> dict:
    """A task's stats.json, written by the data stage."""
    return _read_json(path, "data stats", "Run the data stage first.")


def read_summary(path: str | Path) -> dict:
    """The extraction summary of one (model, task), with the keys the cost model needs."""
    summary = _read_json(path, "extraction summary", "Run the features stage first.")
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if missing:
        raise MinisuperbError(
            f"extraction summary {path} lacks {', '.join(missing)}; it was written by an older "
            "version of the features stage: delete it and rerun the extraction."
        )
    return summary


def _read_json(path: str | Path, what: str, fix: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"{what} {path} does not exist. {fix}")
    return json.loads(path.read_text())


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values)


STAGES = ("upstream", "downstream_train", "downstream_eval")
# "mini": the MiniSUPERB run; "superb": the full SUPERB protocol, counted; "full_run": a run of
# this workflow on all data (optional), measured like the mini run.
PROTOCOLS = ("mini", "superb", "full_run")
# Measured resources per stage, summed like the MACs.
RESOURCE_COLUMNS = ("extract_wall_s", "extract_bytes", "train_wall_s", "train_bytes")
ALL = "all"


def cost_row(model: str, task: str, costs: Mapping[str, Mapping], resources: Mapping) -> dict:
    """One row of cost.csv: MACs per stage of each protocol in `costs` ("mini" and "superb",
    optionally "full_run"), and the measured resources."""
    row = {"model": model, "task": task}
    for protocol, stages in costs.items():
        row.update({f"{protocol}_{stage}_macs": float(stages[stage]) for stage in STAGES})
    row.update({column: float(resources[column]) for column in RESOURCE_COLUMNS})
    return _with_totals(row)


def _with_totals(row: dict) -> dict:
    protocols = [p for p in PROTOCOLS if f"{p}_upstream_macs" in row]
    for protocol in protocols:
        row[f"{protocol}_total_macs"] = sum(row[f"{protocol}_{stage}_macs"] for stage in STAGES)
    row["reduction_percent"] = reduction_percent(row["mini_total_macs"], row["superb_total_macs"])
    if "full_run" in protocols:
        row["full_run_reduction_percent"] = reduction_percent(row["mini_total_macs"], row["full_run_total_macs"])
    return row


def _column_order(columns) -> list[str]:
    wanted = ["model", "task"]
    for protocol in PROTOCOLS:
        wanted += [f"{protocol}_{stage}_macs" for stage in (*STAGES, "total")]
    wanted += ["reduction_percent", "full_run_reduction_percent", *RESOURCE_COLUMNS]
    return [c for c in wanted if c in columns]


def cost_table(rows: Sequence[dict]) -> pd.DataFrame:
    """cost.csv: the (model, task) rows, then one `task=all` row per model and a
    `model=all, task=all` row (sums of MACs, wall time and bytes; reduction of the sums)."""
    frame = pd.DataFrame(rows)
    summed = [c for c in frame.columns if c.endswith("_macs") or c in RESOURCE_COLUMNS]
    per_model = frame.groupby("model", sort=False)[summed].sum().reset_index().assign(task=ALL)
    overall = frame[summed].sum().to_frame().T.assign(model=ALL, task=ALL)
    totals = [_with_totals(row) for row in pd.concat([per_model, overall]).to_dict("records")]
    table = pd.concat([frame, pd.DataFrame(totals)], ignore_index=True)
    return table[_column_order(table.columns)]
