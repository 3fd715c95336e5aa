"""metrics.json files -> the results table (one row per run, seed and model; one column per
metric, named as on the SUPERB leaderboard) and the training table (one row per job: steps, wall
time, MACs, bytes on disk)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from minisuperb import catalog
from minisuperb.errors import MinisuperbError
from minisuperb.report.scoring import METRIC_COLUMNS
from minisuperb.store.layout import bytes_on_disk

METRICS_FILE = "metrics.json"
# `seed` drew the subset lists, `train_seed` initialised the head: a run has one row per pair.
RUN_KEYS = ("protocol", "sampling", "seed", "train_seed")
REQUIRED_KEYS = ("model", "task", *RUN_KEYS, "metrics", "macs", "wall_time_s", "steps")


def metric_column(task: str, metric: str, source: str = "") -> str:
    """Our metric name -> the leaderboard column, e.g. (se, si_sdri) -> SE_sisdri."""
    if task not in catalog.TASKS:
        raise MinisuperbError(f"{source}: unknown task {task!r}; expected one of {', '.join(catalog.TASKS)}.")
    column = catalog.leaderboard_column(task, metric)
    if column not in METRIC_COLUMNS:
        raise MinisuperbError(
            f"{source}: metric {metric!r} of task {task!r} maps to unknown column {column!r}; "
            f"valid columns: {', '.join(METRIC_COLUMNS)}."
        )
    return column


def find_metrics_files(paths: Iterable[str | Path]) -> list[Path]:
    """The given metrics files; a directory stands for every metrics.json below it."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(path.rglob(METRICS_FILE)))
        elif path.is_file():
            found.append(path)
        else:
            raise MinisuperbError(f"metrics file {path} does not exist. Run the downstream stage first.")
    if not found:
        raise MinisuperbError(
            "the run is empty: no metrics.json files were found "
            f"(looked in: {', '.join(map(str, paths)) or 'nothing given'}). Run the downstream stage "
            "(`snakemake`) first, or point `minisuperb collect` at results/downstream/."
        )
    return found


def read_metrics(path: str | Path) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise MinisuperbError(f"{path} is not valid JSON ({error}); delete it and rerun its training job.") from error
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if "test" not in record.get("metrics", {}):
        missing.append("metrics.test")
    if missing:
        raise MinisuperbError(f"{path} lacks {', '.join(missing)}; delete it and rerun its training job.")
    return record


def results_table(records: Iterable[tuple[Path, dict]], references: Mapping[str, str | None]) -> pd.DataFrame:
    """Wide table: protocol, sampling, seed, upstream, reference, then the test metrics."""
    rows: dict[tuple, dict] = {}
    seen: dict[tuple, Path] = {}
    for path, record in records:
        key = (*(record[k] for k in RUN_KEYS), record["model"])
        job = (*key, record["task"])
        if job in seen:
            raise MinisuperbError(f"{path} and {seen[job]} are results of the same job {job}; remove one.")
        seen[job] = path
        row = rows.setdefault(key, {**dict(zip(RUN_KEYS, key)), "upstream": record["model"],
                                    "reference": references.get(record["model"])})
        for metric, value in record["metrics"]["test"].items():
            row[metric_column(record["task"], metric, str(path))] = float(value)
    table = pd.DataFrame(list(rows.values()))
    metric_order = [c for c in METRIC_COLUMNS if c in table.columns]
    return table[[*RUN_KEYS, "upstream", "reference", *metric_order]].sort_values(
        [*RUN_KEYS, "upstream"], kind="stable").reset_index(drop=True)


def training_table(records: Iterable[tuple[Path, dict]]) -> pd.DataFrame:
    """One row per training job: what it cost (MACs, wall time, bytes of its output folder)."""
    rows = []
    for path, record in records:
        rows.append({
            **{k: record[k] for k in RUN_KEYS}, "model": record["model"], "task": record["task"],
            "steps": record["steps"], "best_step": record.get("best_step"),
            "wall_time_s": float(record["wall_time_s"]), "device": record.get("device"),
            "macs_train": float(record["macs"]["train"]), "macs_eval": float(record["macs"]["eval"]),
            "bytes_on_disk": bytes_on_disk(Path(path).parent),
        })
    return pd.DataFrame(rows).sort_values([*RUN_KEYS, "model", "task"], kind="stable").reset_index(drop=True)


def collect(paths: Iterable[str | Path], references: Mapping[str, str | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    records = [(path, read_metrics(path)) for path in find_metrics_files(paths)]
    return results_table(records, references), training_table(records)
