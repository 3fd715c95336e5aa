"""The numbers of the report: MiniSUPERB scores per run, their correlation with the SUPERB
rankings, and the cost table. Plain functions over pandas tables; the files are read and written
by `minisuperb.report.build`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from minisuperb.errors import MinisuperbError
from minisuperb.report import correlation, cost, scoring

SCORE = "minisuperb_score"


def run_label(run: Mapping) -> str:
    return f"{run['protocol']}/{run['sampling']}"


def of_run(table: pd.DataFrame, run: Mapping) -> pd.DataFrame:
    """The rows of `table` (results or training) that belong to one run, all seeds."""
    return table[(table["protocol"] == run["protocol"]) & (table["sampling"] == run["sampling"])]


def run_rows(results: pd.DataFrame, run: Mapping) -> pd.DataFrame:
    """The rows (all seeds) of one run; an error when the run has none."""
    rows = of_run(results, run)
    if rows.empty:
        present = sorted({f"{p}/{s}" for p, s in zip(results["protocol"], results["sampling"])})
        raise MinisuperbError(
            f"the results table has no rows for run {run_label(run)} (config key report.mini_run / "
            f"report.full_run); runs present: {', '.join(present) or 'none'}. Fix the key or run "
            "that run's training jobs."
        )
    return rows


def metric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in scoring.METRIC_COLUMNS if c in table.columns and table[c].notna().any()]


def mean_over_seeds(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per model: each metric averaged over the run's seeds (sampling x training seeds)."""
    metrics = metric_columns(rows)
    grouped = rows.groupby("upstream", sort=True, dropna=False)
    mean = grouped[metrics].mean().reset_index()
    first = grouped[["reference"]].first().reset_index()
    seeds = grouped.size().rename("seeds").reset_index()
    return first.merge(seeds, on="upstream").merge(mean, on="upstream")


def minisuperb_points(table: pd.DataFrame, settings: Mapping) -> scoring.Points:
    """Per-metric (FBANK, SOTA) of the MiniSUPERB score: from the config, or from the run."""
    metrics = scoring.metrics_present(table, settings["metrics"])
    if not metrics:
        raise MinisuperbError(
            f"the run has none of the MiniSUPERB metrics {', '.join(settings['metrics'])} "
            "(config key report.metrics); nothing to score."
        )
    if settings["points"] == "run":
        return scoring.points_from_run(table, metrics, settings["baseline_model"])
    return scoring.points_from_mapping(settings["reference_points"], metrics)


def score_run(rows: pd.DataFrame, settings: Mapping) -> tuple[pd.DataFrame, scoring.Points]:
    """MiniSUPERB scores of one run (metrics averaged over seeds first), with the spread of the
    per-seed scores, the rank, the task points and the mean metrics."""
    mean = mean_over_seeds(rows)
    points = minisuperb_points(mean, settings)
    scores = scoring.score_table(mean, points)[["upstream", "superb_score"]].rename(columns={"superb_score": SCORE})
    per_seed = scoring.score_table(rows, points).groupby("upstream")["superb_score"].std(ddof=1)
    tasks = scoring.task_points_table(mean, points).rename(columns=lambda c: c if c == "upstream" else f"{c}_points")
    table = (mean[["upstream", "reference", "seeds"]].merge(scores, on="upstream")
             .assign(**{f"{SCORE}_std": lambda t: t["upstream"].map(per_seed)})
             .merge(tasks, on="upstream").merge(mean.drop(columns=["reference", "seeds"]), on="upstream"))
    table.insert(0, "sampling", rows["sampling"].iloc[0])
    table.insert(0, "protocol", rows["protocol"].iloc[0])
    table["rank"] = table[SCORE].rank(ascending=False, method="min").astype("Int64")
    return table.sort_values(["rank", "upstream"], na_position="last").reset_index(drop=True), points


def reference_scores(reference_dir: str | Path) -> dict[str, dict]:
    """Per reference set: {"score": {row: score}, "tasks": {task: {row: points}}} of the
    published tables, with the official points."""
    result = {}
    for set_name in scoring.REFERENCE_SETS:
        table = scoring.reference_table(set_name, reference_dir)
        points = scoring.set_points(set_name, Path(reference_dir) / scoring.REFERENCE_POINTS_FILE)
        scores = scoring.score_table(table, points)
        per_task = scoring.task_points_table(table, points).set_index("upstream")
        result[set_name] = {
            "score": dict(zip(scores["upstream"], scores["superb_score"])),
            "tasks": {task: per_task[task].to_dict() for task in per_task.columns},
        }
    return result


def with_reference_scores(scores: pd.DataFrame, references: Mapping[str, dict]) -> pd.DataFrame:
    """Add the published SUPERB score of each model's reference row, per set."""
    extra = {f"superb_{name}": scores["reference"].map(lambda r, s=ref["score"]: s.get(r, math.nan))
             for name, ref in references.items()}
    return scores.assign(**extra)


def missing_references(scores: pd.DataFrame, references: Mapping[str, dict]) -> list[dict]:
    """Models of the run that no reference table scores (not fatal: they are left out of the
    correlations and named in the report)."""
    missing = []
    for upstream, reference in zip(scores["upstream"], scores["reference"]):
        known = [name for name, ref in references.items() if correlation.finite(ref["score"].get(reference))]
        if not known:
            why = "no 'reference' row name in its config entry" if _blank(reference) else \
                f"reference {reference!r} is in no SUPERB table (or has no score there)"
            missing.append({"model": upstream, "reference": None if _blank(reference) else reference, "why": why})
    return missing


def correlations(scores: pd.DataFrame, references: Mapping[str, dict], settings: Mapping,
                 full_scores: pd.DataFrame | None = None) -> dict:
    """Spearman/Kendall of the mini run against each reference ranking, overall and per task,
    and against the full run when there is one."""
    samples, seed, confidence = settings["bootstrap"], settings["seed"], settings["confidence"]
    by_reference = scores.dropna(subset=["reference"]).set_index("reference")
    shared = by_reference.index[by_reference.index.duplicated()].unique()
    if len(shared):
        models = sorted(scores[scores["reference"].isin(shared)]["upstream"])
        raise MinisuperbError(
            f"models {', '.join(models)} name the same SUPERB row ({', '.join(shared)}) as their "
            "`reference`; a row ranks one model: keep it on one entry and set the others to null."
        )
    task_names = [c[: -len("_points")] for c in scores.columns if c.endswith("_points")]

    def compare(ours: pd.DataFrame, score: Mapping, tasks: Mapping[str, Mapping]) -> dict:
        """`ours` (indexed like `score` and `tasks`) against one ranking, overall and per task."""
        def one(mine: Mapping, theirs: Mapping) -> dict:
            return correlation.compare(mine, theirs, samples, seed, confidence) | {
                "order_broken": correlation.discordant_pairs(mine, theirs)}

        entry = one(ours[SCORE].to_dict(), score)
        entry["per_task"] = {task: one(ours[f"{task}_points"].to_dict(), tasks[task])
                             for task in task_names if task in tasks}
        return entry

    result: dict = {"references": {name: compare(by_reference, ref["score"], ref["tasks"])
                                   for name, ref in references.items()}}
    if full_scores is not None:
        full = full_scores.set_index("upstream")
        result["full_run"] = compare(scores.set_index("upstream"), full[SCORE].to_dict(),
                                     {task: full[f"{task}_points"].to_dict() for task in task_names
                                      if f"{task}_points" in full.columns})
    result["missing_from_references"] = missing_references(scores, references)
    return result


def run_costs(training: pd.DataFrame, run: Mapping, summaries: Mapping[tuple[str, str], dict],
              extracted_seconds: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], dict]:
    """Measured MACs per (model, task) of one run of this workflow, and its training resources."""
    result = {}
    for (model, task), group in of_run(training, run).groupby(["model", "task"], sort=True):
        macs = cost.run_task_cost(summaries[(model, task)][cost.SUMMARY_MACS_PER_SECOND],
                                  extracted_seconds[(model, task)], group["macs_train"], group["macs_eval"])
        result[(model, task)] = {"macs": macs, "train_wall_s": group["wall_time_s"].mean(),
                                 "train_bytes": group["bytes_on_disk"].mean()}
    return result


def cost_rows(mini: Mapping[tuple[str, str], dict], summaries: Mapping[tuple[str, str], dict],
              settings: Mapping, full: Mapping[tuple[str, str], dict] | None = None) -> list[dict]:
    """cost.csv rows: per (model, task) of the mini run, its measured MACs, the full SUPERB
    protocol's counted MACs (the preset report.superb_protocol on report.superb_data) and, when
    given, the full run's measured MACs and training resources."""
    tasks = sorted({task for _, task in mini})
    missing = [task for task in tasks if task not in settings["superb_data"]]
    if missing:
        raise MinisuperbError(f"config key report.superb_data has no entry for task(s) {', '.join(missing)}; add them.")
    superb = cost.superb_settings(settings["superb_protocol"], tasks)
    rows = []
    for (model, task), measured in sorted(mini.items()):
        summary = summaries[(model, task)]
        costs = {"mini": measured["macs"],
                 "superb": cost.superb_task_cost(task, superb[task], settings["superb_data"][task],
                                                 summary[cost.SUMMARY_MACS_PER_SECOND], int(summary[cost.SUMMARY_DIM]),
                                                 float(summary[cost.SUMMARY_FRAME_RATE]))}
        resources = {"extract_wall_s": summary[cost.SUMMARY_WALL_TIME], "extract_bytes": summary[cost.SUMMARY_BYTES],
                     "train_wall_s": measured["train_wall_s"], "train_bytes": measured["train_bytes"]}
        if full is not None and (model, task) in full:
            costs["full_run"] = full[(model, task)]["macs"]
            resources |= {"full_run_train_wall_s": full[(model, task)]["train_wall_s"],
                          "full_run_train_bytes": full[(model, task)]["train_bytes"]}
        rows.append(cost.cost_row(model, task, costs, resources))
    return rows


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""

