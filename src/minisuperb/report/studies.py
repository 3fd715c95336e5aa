"""The studies of `report.studies` (config/studies.yaml): how MiniSUPERB's ranking moves with the
training fraction, the seeds, the task subset and few-shot data. Plain functions over the
report's score tables (one per run: `analysis.score_run`), no files and no figures; the sections
and figures are `minisuperb.report.study_report`'s.

Every comparison of two rankings is `correlation.compare` (Spearman and Kendall with exact or
permutation p-values, and BCa intervals from `correlation.INTERVAL_MODELS` models on).
"""

from __future__ import annotations

import itertools
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from minisuperb.corpora.sampling import parse_sampling
from minisuperb.report import correlation, scoring
from minisuperb.report.analysis import SCORE

POINTS = "_points"
# Columns of a comparison row (`comparison_row`).
COMPARISON_COLUMNS = ("models", "spearman", "spearman_p", "spearman_ci", "kendall", "kendall_p", "kendall_ci", "note")


def task_subsets(tasks: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of `tasks`, by size, then in the order of `tasks` (15 for 4 tasks)."""
    return [subset for size in range(1, len(tasks) + 1) for subset in itertools.combinations(tasks, size)]


def tasks_of(scores: pd.DataFrame) -> list[str]:
    """The tasks a score table has points for (e.g. ASR, SID), in its column order."""
    return [c[: -len(POINTS)] for c in scores.columns if c.endswith(POINTS) and scores[c].notna().any()]


def compare(ours: Mapping[str, float], theirs: Mapping[str, float], settings: Mapping) -> dict:
    return correlation.compare(ours, theirs, settings["bootstrap"], settings["seed"], settings["confidence"])


def comparison_row(entry: Mapping) -> dict:
    """One `correlation.compare` result as flat columns (COMPARISON_COLUMNS)."""
    row = {"models": entry["n"], "note": entry.get("note")}
    for method in correlation.METHODS:
        result = entry[method] or {}
        row |= {method: result.get("value", math.nan), f"{method}_p": result.get("p_value", math.nan),
                f"{method}_ci": result.get("ci")}
    return row


def by_model(scores: pd.DataFrame, column: str) -> dict[str, float]:
    return scores.set_index("upstream")[column].to_dict()


def fraction_sweep(runs: Mapping[str, pd.DataFrame], full: pd.DataFrame, costs: Mapping[str, Mapping[str, float]],
                   full_cost: Mapping[str, float], settings: Mapping) -> pd.DataFrame:
    """One row per frac<F> run (`runs`: sampling -> score table), by fraction: its ranking against
    the full run's (score), and its cost (`costs`: sampling -> {"macs", "train_wall_s"}), also as a
    share of the full run's (`full_cost`)."""
    rows = []
    for sampling, scores in runs.items():
        cost = costs[sampling]
        # A run may train fewer tasks (a run's `tasks`): its score is then the mean over those.
        tasks = "+".join(c.removesuffix("_points") for c in scores.columns
                         if c.endswith("_points") and scores[c].notna().any())
        rows.append({"fraction": parse_sampling(sampling).value, "sampling": sampling, "tasks": tasks,
                     **comparison_row(compare(by_model(scores, SCORE), by_model(full, SCORE), settings)),
                     "macs": cost["macs"], "macs_share": _share(cost["macs"], full_cost["macs"]),
                     "train_wall_s": cost["train_wall_s"],
                     "wall_share": _share(cost["train_wall_s"], full_cost["train_wall_s"])})
    return pd.DataFrame(rows).sort_values("fraction", ignore_index=True)


def total_cost(run_costs: Mapping[tuple[str, str], Mapping]) -> dict[str, float]:
    """Sums over models and tasks of `analysis.run_costs`: MACs of every stage, training wall time."""
    return {"macs": float(sum(sum(cost["macs"].values()) for cost in run_costs.values())),
            "train_wall_s": float(sum(cost["train_wall_s"] for cost in run_costs.values()))}


def _share(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else math.nan


def seed_study(rows: pd.DataFrame, points: scoring.Points, settings: Mapping) -> dict:
    """The rankings of one run, one per (sampling seed, training seed), scored with the run's
    points (`rows`: its results rows, every seed). Returns:
    - "rankings": one row per seed pair, a column per model (its score) and "top" (the best model);
    - "pairs": Kendall's tau of every two seed pairs, and which seeds differ between them;
    - "agreement": mean pairwise tau overall and per kind of pair, with a percentile bootstrap
      interval over the seed pairs; how often the top model changes between two seed pairs;
    - "spread": per model, each metric's and the score's mean and standard deviation over seeds.
    """
    scored = scoring.score_table(rows, points).assign(seed=rows["seed"].to_numpy(), train_seed=rows["train_seed"].to_numpy())
    rankings = scored.pivot_table(index=["seed", "train_seed"], columns="upstream", values="superb_score")
    rankings = rankings.dropna(axis=1, how="all")
    rankings["top"] = rankings.idxmax(axis=1)
    keys = list(rankings.index)
    scores = rankings.drop(columns="top").to_numpy(dtype=float)
    taus = _pairwise_kendall(scores)
    pairs = pd.DataFrame([{"a": f"{a[0]}/{a[1]}", "b": f"{b[0]}/{b[1]}", "kendall": taus[i, j],
                           "differs": _differs(a, b), "top_changes": rankings["top"].iloc[i] != rankings["top"].iloc[j]}
                          for (i, a), (j, b) in itertools.combinations(enumerate(keys), 2)])
    agreement = {"seed_pairs": len(keys), "models": scores.shape[1],
                 "mean_kendall": _nanmean(pairs["kendall"]) if len(pairs) else math.nan,
                 "mean_kendall_ci": _bootstrap_mean_tau(taus, settings) if len(keys) > 2 else None,
                 "by_kind": {kind: _nanmean(group["kendall"]) for kind, group in pairs.groupby("differs")} if len(pairs) else {},
                 "top_change_share": float(pairs["top_changes"].mean()) if len(pairs) else math.nan,
                 "tops": rankings["top"].value_counts().to_dict()}
    metrics = [c for c in scoring.METRIC_COLUMNS if c in rows.columns and rows[c].notna().any()]
    spread_source = rows[["upstream", *metrics]].assign(**{SCORE: scored["superb_score"].to_numpy()})
    grouped = spread_source.groupby("upstream", sort=True)
    spread = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std")).reset_index()
    return {"rankings": rankings.reset_index(), "pairs": pairs, "agreement": agreement, "spread": spread,
            "metrics": [*metrics, SCORE]}


def _differs(a: tuple, b: tuple) -> str:
    """Which seeds differ between two (sampling seed, training seed) pairs."""
    return {(True, False): "sampling seed", (False, True): "training seed"}.get((a[0] != b[0], a[1] != b[1]), "both")


def _pairwise_kendall(scores: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of every two rows (models in columns; a model missing in either row is left
    out of that pair); NaN where fewer than correlation.MIN_MODELS models remain or a row is constant."""
    count = len(scores)
    taus = np.full((count, count), np.nan)
    for i, j in itertools.combinations(range(count), 2):
        keep = np.isfinite(scores[i]) & np.isfinite(scores[j])
        if keep.sum() >= correlation.MIN_MODELS and np.ptp(scores[i][keep]) > 0 and np.ptp(scores[j][keep]) > 0:
            taus[i, j] = taus[j, i] = float(correlation.kendall(scores[i][keep], scores[j][keep]))
    return taus


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def _bootstrap_mean_tau(taus: np.ndarray, settings: Mapping) -> list[float] | None:
    """Percentile interval of the mean pairwise tau, resampling the seed pairs (rankings) with
    replacement; a ranking drawn twice is not paired with itself."""
    rng = np.random.default_rng(settings["seed"])
    count, means = len(taus), []
    for _ in range(settings["bootstrap"]):
        drawn = rng.integers(0, count, count)
        values = [taus[a, b] for x, a in enumerate(drawn) for b in drawn[x + 1:] if a != b]
        if values and np.isfinite(values).any():
            means.append(float(np.nanmean(values)))
    if not means:
        return None
    tail = 100 * (1 - settings["confidence"]) / 2
    return [float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))]


def task_subset_study(mini: pd.DataFrame, full: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    """One row per non-empty subset of the mini run's tasks: the subset's score (the mean of its
    tasks' points, as the MiniSUPERB score averages tasks) against the full run's all-task score."""
    theirs = by_model(full, SCORE)
    rows = []
    for subset in task_subsets(tasks_of(mini)):
        ours = mini.set_index("upstream")[[f"{task}{POINTS}" for task in subset]].mean(axis=1, skipna=False).to_dict()
        rows.append({"tasks": "+".join(subset), "size": len(subset), **comparison_row(compare(ours, theirs, settings))})
    return pd.DataFrame(rows)


def few_shot_amount(sampling: str) -> tuple[float, str]:
    """(amount, unit) of a few-shot sampling name: k<K> utterances per speaker, min<M> minutes."""
    rule = parse_sampling(sampling)
    return float(rule.value), {"k": "utterances per speaker", "minutes": "minutes"}[rule.kind]


def few_shot_study(runs: Mapping[str, pd.DataFrame], full: pd.DataFrame, settings: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per few-shot run (`runs`: sampling -> score table) and task: the task's ranking against the
    full run's on that task. Returns (comparisons, ranks): ranks has one row per (task, model)
    and its rank per amount, "full" the full run's."""
    rows, ranks = [], {}
    for sampling, scores in sorted(runs.items(), key=lambda item: few_shot_amount(item[0])[::-1]):
        amount, unit = few_shot_amount(sampling)
        for task in tasks_of(scores):
            column = f"{task}{POINTS}"
            rows.append({"task": task, "sampling": sampling, "amount": amount, "unit": unit,
                         **comparison_row(compare(by_model(scores, column), by_model(full, column), settings))})
            rank = scores.set_index("upstream")[column].rank(ascending=False, method="min")
            for model, value in rank.items():
                ranks.setdefault((task, model), {})[sampling] = value
    comparisons = pd.DataFrame(rows).sort_values(["task", "amount"], ignore_index=True) if rows else pd.DataFrame()
    table = []
    for (task, model), by_sampling in sorted(ranks.items()):
        full_rank = full.set_index("upstream")[f"{task}{POINTS}"].rank(ascending=False, method="min").get(model, math.nan)
        table.append({"task": task, "model": model, **by_sampling, "full": full_rank})
    return comparisons, pd.DataFrame(table)
