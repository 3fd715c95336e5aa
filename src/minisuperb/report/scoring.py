"""SUPERB and MiniSUPERB scores of a results table.

A results table has one row per upstream (column `upstream`) and one column per metric, named
as on the SUPERB leaderboard: `<TASK>_<metric>` (ASR_wer, SID_acc, SE_pesq, ...), in the
leaderboard's units (percent for wer/acc/stoi). The score is what the SUPERB website computes:

    points_m(u) = 1000 * (value_m(u) - fbank_m) / (sota_m - fbank_m)

Lower-is-better metrics need no flip (their SOTA lies below FBANK). The metrics of one task (the
key before the first `_`) are averaged into task points; the score is the mean over tasks. A row
missing any metric of the set has no score (NaN, written as an empty cell).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from minisuperb import catalog
from minisuperb.errors import MinisuperbError

log = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "config" / "reference"
REFERENCE_POINTS_FILE = "superb_reference_points.csv"

# Every metric column a results table may hold: our tasks' metrics first (with ASR_cer and
# SE_sisdri, which the leaderboards lack), then the other SUPERB leaderboard keys.
METRIC_COLUMNS = (
    *(catalog.leaderboard_column(task, metric) for task in catalog.TASKS for metric in catalog.TASKS[task].metrics),
    "PR_per", "KS_acc", "IC_acc", "ER_acc", "ASR_LM_wer", "QbE_mtwv", "QbE_map", "QbE_eer",
    "SF_f1", "SF_cer", "SV_eer", "SD_der", "ST_bleu",
)
# Columns that identify a row rather than measure it.
ID_COLUMNS = ("upstream", "reference", "protocol", "sampling", "seed", "train_seed", "params", "params_M")
LOWER_IS_BETTER = frozenset({"per", "wer", "cer", "eer", "der"})

# name -> (metric columns, suffix of their rows in superb_reference_points.csv); see
# config/reference/README.md. "minisuperb" is our four tasks; its points come from the config
# or from the run itself, never from the reference file.
TASK_SETS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "paper": (("PR_per", "KS_acc", "IC_acc", "SID_acc", "ER_acc", "ASR_wer", "QbE_mtwv",
               "SF_f1", "SF_cer", "SV_eer", "SD_der"), "_public"),
    "public": (("PR_per", "SID_acc", "ER_acc", "ASR_wer", "QbE_mtwv", "SV_eer", "SD_der",
                "ST_bleu", "SE_pesq", "SE_stoi", "SS_sisdri"), "_public"),
    "hidden-dev": (("PR_per", "SID_acc", "ER_acc", "ASR_wer", "QbE_map", "QbE_eer", "SV_eer",
                    "SD_der", "ST_bleu", "SE_pesq", "SE_stoi", "SS_sisdri"), "_hidden_dev"),
    "hidden-test": (("PR_per", "SID_acc", "ER_acc", "ASR_wer", "QbE_map", "QbE_eer", "SV_eer",
                     "SD_der", "ST_bleu", "SE_pesq", "SE_stoi", "SS_sisdri"), "_hidden_test"),
    "minisuperb": (("ASR_wer", "SID_acc", "SE_pesq", "SE_stoi", "SS_sisdri"), None),
}
# The reference table whose rows each reference set scores.
REFERENCE_TABLES = {
    "paper": "superb_public.csv",
    "public": "superb_public.csv",
    "hidden-dev": "superb_hidden_dev.csv",
    "hidden-test": "superb_hidden_test.csv",
}
REFERENCE_SETS = tuple(REFERENCE_TABLES)

Points = dict[str, tuple[float, float]]  # metric column -> (fbank, sota)


def task_of(metric: str) -> str:
    return metric.split("_", 1)[0]


def higher_is_better(metric: str) -> bool:
    return metric.rsplit("_", 1)[-1] not in LOWER_IS_BETTER


def metric_points(value: float, fbank: float, sota: float) -> float:
    return 1000.0 * (value - fbank) / (sota - fbank)


def task_points(row: Mapping[str, float], points: Points) -> dict[str, float]:
    """Task -> points of one row (metrics of a task averaged); NaN where a metric is missing."""
    by_task: dict[str, list[float]] = defaultdict(list)
    for metric, (fbank, sota) in points.items():
        value = row.get(metric, math.nan)
        value = math.nan if value is None or pd.isna(value) else float(value)
        by_task[task_of(metric)].append(metric_points(value, fbank, sota))
    return {task: sum(values) / len(values) for task, values in by_task.items()}


def score(row: Mapping[str, float], points: Points) -> float:
    """The SUPERB-style score of one row: the mean of its task points (NaN if any is missing)."""
    per_task = task_points(row, points)
    return sum(per_task.values()) / len(per_task)


def check_columns(table: pd.DataFrame, source: str) -> None:
    """Every column must be an identifier or a known metric; `upstream` must be present."""
    unknown = [c for c in table.columns if c not in ID_COLUMNS and c not in METRIC_COLUMNS]
    if unknown:
        raise MinisuperbError(
            f"{source}: unknown metric column(s) {', '.join(map(repr, unknown))}. Valid metric "
            f"columns: {', '.join(METRIC_COLUMNS)}; identifier columns: {', '.join(ID_COLUMNS)}. "
            "Rename the column to a leaderboard key (e.g. 'ASR_wer') or drop it."
        )
    if "upstream" not in table.columns:
        raise MinisuperbError(f"{source}: no 'upstream' column; the first column must name the model.")


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"results table {path} does not exist.")
    table = pd.read_csv(path, na_values=["-"])  # "-": the leaderboard's "not submitted"
    check_columns(table, str(path))
    return table


def read_points_file(path: str | Path, suffix: str | None = None) -> Points:
    """Read `metric,fbank,sota` rows. The official file holds every task set under suffixed
    names (`ASR_wer_public`); when the file uses `suffix`, keep those rows and strip it, else
    take the names as they are (a user's own points file)."""
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"reference points file {path} does not exist.")
    frame = pd.read_csv(path)
    missing = {"metric", "fbank", "sota"} - set(frame.columns)
    if missing:
        raise MinisuperbError(f"{path}: needs columns metric,fbank,sota (missing {sorted(missing)}).")
    names = frame["metric"].astype(str)
    if suffix and names.str.endswith(suffix).any():
        frame = frame[names.str.endswith(suffix)].assign(metric=names.str[: -len(suffix)])
    return {m: (float(b), float(t)) for m, b, t in frame[["metric", "fbank", "sota"]].itertuples(index=False)}


def set_points(set_name: str, points_file: str | Path | None = None) -> Points:
    """The reference points of a task set, restricted to its metrics (from `points_file`, or
    the official file shipped in config/reference/)."""
    if set_name not in TASK_SETS:
        raise MinisuperbError(f"unknown task set {set_name!r}; choose one of {', '.join(TASK_SETS)}.")
    metrics, suffix = TASK_SETS[set_name]
    if points_file is None and suffix is None:
        raise MinisuperbError(
            f"task set {set_name!r} has no official reference points: give --points FILE "
            "(metric,fbank,sota) or --run-points BASELINE."
        )
    path = Path(points_file) if points_file is not None else REFERENCE_DIR / REFERENCE_POINTS_FILE
    available = read_points_file(path, suffix)
    missing = [m for m in metrics if m not in available]
    if missing:
        raise MinisuperbError(
            f"{path}: no reference points for {', '.join(missing)} (task set {set_name!r}). "
            "Add rows metric,fbank,sota for them."
        )
    return {m: available[m] for m in metrics}


def points_from_mapping(mapping: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> Points:
    """Points from the config (`{metric: {fbank: x, sota: y}}`) for `metrics`."""
    missing = [m for m in metrics if m not in mapping]
    if missing:
        raise MinisuperbError(
            f"config key 'report.reference_points' has no entry for {', '.join(missing)}; add "
            "{fbank: ..., sota: ...} for each, or set report.points: run."
        )
    return {m: (float(mapping[m]["fbank"]), float(mapping[m]["sota"])) for m in metrics}


def points_from_run(table: pd.DataFrame, metrics: Sequence[str], baseline: str) -> Points:
    """FBANK = the baseline row of this run, SOTA = the best row per metric ("FBANK and the best
    model of this run"). A metric on which no model beats the baseline has no scale
    (SOTA = FBANK): it is left out of the score, with a warning."""
    rows = table[table["upstream"] == baseline]
    if rows.empty:
        raise MinisuperbError(
            f"the run has no row for the baseline model {baseline!r} (models: "
            f"{', '.join(map(str, table['upstream']))}). Add it to the config's models, or set "
            "report.baseline_model / report.points: config."
        )
    points: Points = {}
    for metric in metrics:
        column = table[metric].dropna()
        best = column.max() if higher_is_better(metric) else column.min()
        fbank = float(rows[metric].iloc[0])
        if column.empty or pd.isna(fbank) or best == fbank:
            log.warning("no model beats the baseline %r on %s in this run: %s is left out of the score",
                        baseline, metric, metric)
            continue
        points[metric] = (fbank, float(best))
    if not points:
        raise MinisuperbError(
            f"no model beats the baseline {baseline!r} on any of {', '.join(metrics)}, so the run "
            "defines no points. Use report.points: config (reference_points), or train longer."
        )
    return points


def metrics_present(table: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """The metrics of a set whose task the table has at all (a run of a task subset is scored
    over those tasks)."""
    tasks = {task_of(c) for c in table.columns if c in METRIC_COLUMNS and table[c].notna().any()}
    return [m for m in metrics if task_of(m) in tasks]


def score_table(table: pd.DataFrame, points: Points) -> pd.DataFrame:
    """Identifier columns of `table` plus `superb_score` (unrounded; NaN where undefined)."""
    ids = [c for c in ID_COLUMNS if c in table.columns and c not in ("params", "params_M")]
    scores = [score(row, points) for row in table.to_dict("records")]
    return table[ids].assign(superb_score=scores).reset_index(drop=True)


def task_points_table(table: pd.DataFrame, points: Points) -> pd.DataFrame:
    """`upstream` plus one points column per task."""
    rows = [{"upstream": row["upstream"], **task_points(row, points)} for row in table.to_dict("records")]
    return pd.DataFrame(rows)


def reference_table(set_name: str, reference_dir: str | Path = REFERENCE_DIR) -> pd.DataFrame:
    return read_table(Path(reference_dir) / REFERENCE_TABLES[set_name])
