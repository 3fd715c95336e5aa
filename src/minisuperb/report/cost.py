"""The cost of an evaluation in multiply-accumulates (MACs), MiniSUPERB against full SUPERB.

METHOD below says what is counted on each side; the report prints it. The SUPERB protocol's
numbers (steps, batch, evaluation period, head sizes, STFT) come from the same presets the
trainer runs (config/protocols.yaml, `report.superb_protocol` names the preset); only the facts
of the full datasets (hours, utterances, which splits s3prl evaluates how often) are in
`report.superb_data`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from minisuperb.catalog import SPLITS
from minisuperb.corpora.audio import TARGET_RATE
from minisuperb.downstream.protocols import resolve_settings
from minisuperb.errors import MinisuperbError

TRAIN_FACTOR = 3  # MACs of one training example = forward + backward (~2 x forward)
# s3prl's ASR dataset splits every bucket of `batch_size` utterances in two: the length threshold
# it compares with (HALF_BATCHSIZE_TIME = 2000) is in samples, which every utterance exceeds. A
# SUPERB (and MiniSUPERB reference) ASR step therefore sees batch_size / 2 utterances: 16 of 32.
# This workflow's trainer does not split: its minisuperb ASR step sees 32.
HALVED_BATCH_TASKS = frozenset({"asr"})
S3PRL_ASR_CLASSES = 32  # s3prl's char.dict: 4 special symbols and 28 characters

# What is counted on each side, and which accounting gives the paper's 97%: the report prints both.
METHOD = (
    "How MACs are counted. MiniSUPERB (this workflow's run): the frozen upstream runs once per "
    "utterance of the run's subset lists (train, dev, test), at extraction: macs_per_second of the "
    "extraction summary x the audio seconds of the lists. The heads: macs.train and macs.eval of "
    "metrics.json as the trainer counted them (thop's forward MACs per frame of the head, LSTMs "
    "included, plus the featurizer; x 3 per training frame for forward + backward; every dev "
    "evaluation and the test), mean over seeds. SUPERB: the same upstream on the full datasets with "
    "s3prl's runner and the settings of the protocol preset report.superb_protocol: the frozen "
    "upstream runs again on every training example of every step (steps x examples per step x mean "
    "training-utterance seconds, cut at SID's 8 s training crop; an ASR step sees half its batch "
    "size, s3prl's halved buckets) and on every evaluation pass (dev every eval_every steps, SID's "
    "test too, the other tests once); the head's forward MACs per frame are counted from its layers "
    "(linear: in x out; BLSTM: 2 x 4 x hidden x (in + hidden)) at its frame rate (the STFT's when the "
    "STFT has a hop of its own), x 3 per training frame, x 1 in evaluation; biases, element-wise "
    "operations, STFTs and utterance-level classifiers are left out. Reduction = 1 - MiniSUPERB / "
    "SUPERB."
)
PAPER_ACCOUNTING = (
    "Which accounting gives the MiniSUPERB paper's 97%. For a Base model (HuBERT Base, 6.9 GMACs per "
    "second of audio) on the paper's subsets, the count above gives 99.1-99.4%, whichever SE/SS "
    "recipe SUPERB is counted with (s3prl v1 or *_stft2) and whether an ASR step sees 16 utterances "
    "(s3prl) or 32 (this trainer). 97% needs SUPERB's upstream counted once per utterance of the "
    "full datasets, as if SUPERB too extracted its features once: 96.6-98.3% over the same variants "
    "(tests/test_cost.py; the 'SUPERB upstream once' column of the tables). Counting a training frame "
    "as a forward pass only (x 1, not x 3) moves the figures by up to 1.3 points (99.4-99.6% and "
    "95.3-97.4%), "
    "dropping the evaluation passes by less than 0.1, and leaving the heads out gives 99.7% and 80%. "
    "This report states the per-example reduction: s3prl forwards the frozen upstream at every "
    "training step (SID's random 8 s crops even differ every epoch), so that is what a SUPERB run "
    "computes; the once-per-utterance figure credits SUPERB with MiniSUPERB's own offline extraction."
)

# Keys of the extraction summary results/features/{model}/{task}.json (the store attributes).
SUMMARY_MACS_PER_SECOND = "macs_per_second"
SUMMARY_DIM = "dim"
SUMMARY_FRAME_RATE = "frame_rate"
# A view's extraction time at the rate measured where it was computed: what extracting the view
# alone costs, even when its job copied every utterance from another view (store.reuse).
SUMMARY_WALL_TIME = "view_extraction_s"
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
        else:
            total += copies * lstm_macs(width, int(layer["blstm"]))
            width = 2 * int(layer["blstm"])
    return total


def head_layers(task: str, settings: Mapping) -> list[dict]:
    """The frame-level layers of s3prl's head of `task` with these (preset) settings."""
    if task == "sid":  # mean pooling follows; the utterance-level classifier is left out
        return [{"linear": int(settings["projector"])}]
    lstm = [{"blstm": int(settings["hidden"])}] * int(settings["layers"])
    if task == "asr":
        return [{"linear": int(settings["projector"])}, *lstm, {"linear": S3PRL_ASR_CLASSES}]
    bins = int(settings["n_fft"]) // 2 + 1
    return [*lstm, {"linear": bins, "copies": 2 if task == "ss" else 1}]


def head_frame_rate(settings: Mapping, frame_rate: float) -> float:
    """Frames per second the head runs at: the upstream's, or the STFT's when the task's STFT has a
    hop of its own (s3prl's enhancement_stft2: 10 ms, the features repeated to match)."""
    hop = settings.get("hop_length")
    return TARGET_RATE / int(hop) if hop else frame_rate


def examples_per_step(task: str, settings: Mapping) -> float:
    batch = int(settings["batch_size"]) * int(settings["accumulate"])
    return batch / 2 if task in HALVED_BATCH_TASKS else batch


def train_seconds_per_utterance(data: Mapping) -> float:
    """Mean seconds of one training example: the corpus mean, cut at the training crop."""
    mean = data["train_hours"] * 3600.0 / data["train_utterances"]
    crop = data.get("crop_seconds")
    return min(mean, crop) if crop else mean


def eval_seconds(data: Mapping, settings: Mapping) -> float:
    """Audio seconds of every evaluation pass of one training run."""
    periodic_passes = int(settings["steps"]) // int(settings["eval_every"])
    return sum((periodic_passes if part["every_eval"] else 1) * part["hours"] * 3600.0 for part in data["eval"])


def superb_task_cost(task: str, settings: Mapping, data: Mapping, macs_per_second: float, dim: int,
                     frame_rate: float) -> dict:
    """MACs of one training run of `task` with s3prl's runner (see METHOD): `upstream` counts the
    upstream per training example and evaluation pass, `upstream_once` once per utterance of the
    data (train and every evaluated split)."""
    train_seconds = settings["steps"] * examples_per_step(task, settings) * train_seconds_per_utterance(data)
    evaluated = eval_seconds(data, settings)
    head_per_second = head_macs(head_layers(task, settings), dim) * head_frame_rate(settings, frame_rate)
    return {
        "upstream": macs_per_second * (train_seconds + evaluated),
        "upstream_once": macs_per_second * 3600.0 * (data["train_hours"] + sum(p["hours"] for p in data["eval"])),
        "downstream_train": TRAIN_FACTOR * head_per_second * train_seconds,
        "downstream_eval": head_per_second * evaluated,
    }


def superb_settings(protocol: str, tasks: Sequence[str]) -> dict[str, dict]:
    """{task: settings} of the preset the SUPERB cost counts, as the trainer would resolve them."""
    return {task: resolve_settings(protocol, task) for task in tasks}


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
    stats.json (`minisuperb subset-stats`: seconds per split of each subset <sampling>/seed<seed>)."""
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
    try:
        value = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise MinisuperbError(f"{what} {path} is not valid JSON ({error}): it is damaged or another file. "
                              f"Delete it and rerun snakemake, which writes it again.") from error
    if not isinstance(value, dict):
        raise MinisuperbError(f"{what} {path} is not a JSON object: it is another file. Pass the {what} file.")
    return value


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values)


STAGES = ("upstream", "downstream_train", "downstream_eval")
# "mini": the MiniSUPERB run; "superb": the full SUPERB protocol, counted; "full_run": a run of
# this workflow on all data (optional), measured like the mini run.
PROTOCOLS = ("mini", "superb", "full_run")
# Measured resources, summed like the MACs: extraction (shared by the runs: one store per model
# and task) and the training of the mini run and, when there is one, of the full run.
RESOURCE_COLUMNS = ("extract_wall_s", "extract_bytes", "train_wall_s", "train_bytes",
                    "full_run_train_wall_s", "full_run_train_bytes")
ALL = "all"


def cost_row(model: str, task: str, costs: Mapping[str, Mapping], resources: Mapping) -> dict:
    """One row of cost.csv: MACs per stage of each protocol in `costs` ("mini" and "superb" with
    its `upstream_once`, optionally "full_run"), and the measured resources given."""
    row = {"model": model, "task": task}
    for protocol, stages in costs.items():
        row.update({f"{protocol}_{stage}_macs": float(stages[stage]) for stage in STAGES})
    row["superb_upstream_once_macs"] = float(costs["superb"]["upstream_once"])
    row.update({column: float(resources[column]) for column in RESOURCE_COLUMNS if column in resources})
    return _with_totals(row)


def _with_totals(row: dict) -> dict:
    protocols = [p for p in PROTOCOLS if f"{p}_upstream_macs" in row]
    for protocol in protocols:
        row[f"{protocol}_total_macs"] = sum(row[f"{protocol}_{stage}_macs"] for stage in STAGES)
    row["reduction_percent"] = reduction_percent(row["mini_total_macs"], row["superb_total_macs"])
    superb_once = row["superb_total_macs"] - row["superb_upstream_macs"] + row["superb_upstream_once_macs"]
    row["reduction_upstream_once_percent"] = reduction_percent(row["mini_total_macs"], superb_once)
    if "full_run" in protocols:
        row["full_run_reduction_percent"] = reduction_percent(row["mini_total_macs"], row["full_run_total_macs"])
    return row


def _column_order(columns) -> list[str]:
    wanted = ["model", "task"]
    for protocol in PROTOCOLS:
        wanted += [f"{protocol}_{stage}_macs" for stage in (*STAGES, "total")]
    wanted += ["superb_upstream_once_macs", "reduction_percent", "reduction_upstream_once_percent",
               "full_run_reduction_percent", *RESOURCE_COLUMNS]
    return [c for c in wanted if c in columns]


def cost_table(rows: Sequence[dict]) -> pd.DataFrame:
    """cost.csv: the (model, task) rows, then one `task=all` row per model and a
    `model=all, task=all` row (sums of MACs, wall time and bytes; reductions of the sums)."""
    frame = pd.DataFrame(rows)
    summed = [c for c in frame.columns if c.endswith("_macs") or c in RESOURCE_COLUMNS]
    per_model = frame.groupby("model", sort=False)[summed].sum().reset_index().assign(task=ALL)
    overall = frame[summed].sum().to_frame().T.assign(model=ALL, task=ALL)
    totals = [_with_totals(row) for row in pd.concat([per_model, overall]).to_dict("records")]
    table = pd.concat([frame, pd.DataFrame(totals)], ignore_index=True)
    return table[_column_order(table.columns)]
