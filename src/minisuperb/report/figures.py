"""The report's figures (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from minisuperb.report.analysis import SCORE  # noqa: E402
from minisuperb.report.cost import ALL, STAGES  # noqa: E402
from minisuperb.report.document import reduction_text  # noqa: E402
from minisuperb.report.scoring import higher_is_better  # noqa: E402

DPI = 110
STAGE_COLORS = {"upstream": "#4c72b0", "downstream_train": "#dd8452", "downstream_eval": "#55a868"}


def save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so the same numbers give byte-identical files.
    figure.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return path


def grid(panels: int, height: float, columns: int = 3):
    """A figure with `panels` axes, up to `columns` per row (unused cells hidden)."""
    columns = min(columns, panels)
    rows = int(np.ceil(panels / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, height * rows), squeeze=False)
    for axis in list(axes.flat)[panels:]:
        axis.set_visible(False)
    return figure, axes


def ranking(scores: pd.DataFrame, title: str) -> plt.Figure:
    """MiniSUPERB score per model, best on top; the whisker is the spread over seeds."""
    ordered = scores.sort_values(SCORE, ascending=True, na_position="first")
    figure, axis = plt.subplots(figsize=(7, 0.45 * len(ordered) + 1.5))
    spread = ordered[f"{SCORE}_std"].fillna(0.0).to_numpy()
    axis.barh(ordered["upstream"], ordered[SCORE].fillna(0.0), xerr=spread, color="#4c72b0", capsize=3)
    for y, (value, whisker) in enumerate(zip(ordered[SCORE], spread)):
        label, end = ("n/a", 0.0) if pd.isna(value) else (f"{value:.1f}", max(value, 0.0) + whisker)
        axis.annotate(label, (end, y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("MiniSUPERB score (FBANK = 0, SOTA = 1000)")
    axis.set_title(title)
    return figure


def per_task(scores: pd.DataFrame, metrics: list[str]) -> plt.Figure:
    """One panel per metric, one bar per model, models in ranking order."""
    figure, axes = grid(len(metrics), 3.2)
    for axis, metric in zip(axes.flat, metrics):
        axis.bar(scores["upstream"], scores[metric], color="#55a868")
        arrow = "higher is better" if higher_is_better(metric) else "lower is better"
        axis.set_title(f"{metric} ({arrow})", fontsize=10)
        axis.tick_params(axis="x", labelrotation=45, labelsize=8)
    figure.tight_layout()
    return figure


def scatter(panels: list[dict]) -> plt.Figure:
    """MiniSUPERB score against each reference score, one panel per comparison that has a
    correlation. A panel: {"title", "xlabel", "x": {model: score}, "y": {model: score}, "rho"}.
    With no panel, a figure that says so (the file is a workflow output all the same)."""
    if not panels:
        figure, axis = plt.subplots(figsize=(6, 1.2))
        axis.axis("off")
        axis.text(0.5, 0.5, "No comparison with 3 or more models in common", ha="center", va="center")
        return figure
    figure, axes = grid(len(panels), 4.0)
    for axis, panel in zip(axes.flat, panels):
        common = sorted(m for m in panel["y"] if m in panel["x"] and pd.notna(panel["x"][m]) and pd.notna(panel["y"][m]))
        xs = [panel["x"][m] for m in common]
        ys = [panel["y"][m] for m in common]
        axis.scatter(xs, ys, color="#c44e52")
        for model, x, y in zip(common, xs, ys):
            axis.annotate(model, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
        axis.set_title(f"{panel['title']}\nSpearman rho = {panel['rho']:.3f} (n = {len(common)})", fontsize=10)
        axis.set_xlabel(panel["xlabel"])
        axis.set_ylabel("MiniSUPERB score")
    figure.tight_layout()
    return figure


def cost_breakdown(cost_table: pd.DataFrame) -> plt.Figure:
    """Left: total MACs per model, MiniSUPERB vs SUPERB (log scale) with the reduction. Right:
    the share of each stage in each protocol's MACs, over all models and tasks."""
    per_model = cost_table[(cost_table["task"] == ALL) & (cost_table["model"] != ALL)]
    overall = cost_table[(cost_table["model"] == ALL) & (cost_table["task"] == ALL)].iloc[0]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    positions = np.arange(len(per_model))
    bars = [(c, label, color) for c, label, color in (
        ("mini_total_macs", "MiniSUPERB", "#4c72b0"), ("full_run_total_macs", "full run (measured)", "#8172b3"),
        ("superb_total_macs", "SUPERB protocol (counted)", "#c44e52")) if c in per_model.columns]
    width = 0.8 / len(bars)
    for index, (column, label, color) in enumerate(bars):
        offset = (index - (len(bars) - 1) / 2) * width
        left.bar(positions + offset, per_model[column], width, label=label, color=color)
    for x, (top, reduction) in enumerate(zip(per_model["superb_total_macs"], per_model["reduction_percent"])):
        left.annotate(f"-{reduction_text(reduction)}%", (x + 0.4 - width / 2, top), xytext=(0, 3), textcoords="offset points",
                      ha="center", fontsize=8)
    left.set_yscale("log")
    left.set_xticks(positions, per_model["model"], rotation=45, ha="right", fontsize=8)
    left.set_ylabel("MACs (all tasks)")
    left.set_title(f"Total MACs per model (overall reduction {reduction_text(overall['reduction_percent'])}%)", fontsize=10)
    left.legend(fontsize=8)
    bottom = np.zeros(2)
    for stage in STAGES:
        values = np.array([overall[f"mini_{stage}_macs"], overall[f"superb_{stage}_macs"]])
        totals = np.array([overall["mini_total_macs"], overall["superb_total_macs"]])
        shares = 100.0 * np.divide(values, totals, out=np.zeros(2), where=totals > 0)
        right.bar(["MiniSUPERB", "SUPERB"], shares, bottom=bottom, label=stage.replace("_", " "), color=STAGE_COLORS[stage])
        bottom += shares
    right.set_ylabel("share of MACs (%)")
    right.set_title("MACs by stage", fontsize=10)
    right.legend(fontsize=8)
    figure.tight_layout()
    return figure


def write_all(output_dir: Path, scores: pd.DataFrame, metrics: list[str], scatter_panels: list[dict],
              cost_table: pd.DataFrame, title: str) -> Mapping[str, Path]:
    figure_dir = output_dir / "figures"
    return {
        "ranking": save(ranking(scores, title), figure_dir / "ranking.png"),
        "per_task": save(per_task(scores, metrics), figure_dir / "per_task.png"),
        "scatter": save(scatter(scatter_panels), figure_dir / "scatter.png"),
        "cost": save(cost_breakdown(cost_table), figure_dir / "cost.png"),
    }


SET_COLORS = {"paper": "#4c72b0", "public": "#dd8452", "hidden-dev": "#55a868", "hidden-test": "#c44e52"}


def task_subsets(subsets: Mapping[str, list[dict]], titles: Mapping[str, str]) -> plt.Figure:
    """One panel per SUPERB set (titled by `titles`): each task subset's Spearman rho with the set's
    full score, with its BCa interval (bar) and Kendall's tau (open marker); the 4-task subset dashed."""
    figure, axes = grid(len(subsets), 0.3 * max(len(rows) for rows in subsets.values()) + 1.4, columns=4)
    for axis, (set_name, rows) in zip(axes.flat, subsets.items()):
        shown = [row for row in rows if row["spearman"]]
        ys = np.arange(len(shown))[::-1]
        for y, row in zip(ys, shown):
            rho = row["spearman"]
            if rho["ci"]:
                axis.plot(rho["ci"], [y, y], color=SET_COLORS.get(set_name, "#4c72b0"), linewidth=2, alpha=0.5)
            axis.plot(rho["value"], y, "o", color=SET_COLORS.get(set_name, "#4c72b0"))
            axis.plot(row["kendall"]["value"], y, "o", markerfacecolor="none", color="#555555", markersize=5)
        if shown:
            axis.axvline(shown[-1]["spearman"]["value"], color="#888888", linestyle="--", linewidth=0.8)
        axis.set_yticks(ys, [row["name"] for row in shown] if axis is axes.flat[0] else [], fontsize=8)
        axis.set_xlim(min(-0.1, *(r["spearman"]["ci"][0] for r in shown if r["spearman"]["ci"])) - 0.05, 1.02)
        axis.set_title(titles.get(set_name, set_name), fontsize=10)
        axis.set_xlabel("rank correlation with the set's score")
        axis.grid(axis="x", alpha=0.3)
    axes.flat[0].plot([], [], "o", color="#444444", label="Spearman rho (bar: 95% BCa)")
    axes.flat[0].plot([], [], "o", markerfacecolor="none", color="#555555", label="Kendall tau")
    axes.flat[0].legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    return figure


def predicted_score(maps: Mapping[str, dict], loo: Mapping[str, dict], evaluated: list[dict],
                    titles: Mapping[str, str]) -> plt.Figure:
    """Left panels, one per target set: the calibration of the MiniSUPERB map (the paper's 11
    models, the OLS line and its prediction band) with the evaluated models' predictions. Last
    panel: leave-one-out predictions of the published-table maps against the published score.
    `maps`: target set -> LinearMap summary; `loo`: set -> summary of the task-points map."""
    figure, axes = grid(len(maps) + 1, 4.2, columns=len(maps) + 1)
    for axis, (set_name, summary) in zip(axes.flat, maps.items()):
        x = np.array(summary["x"])[:, 0]
        axis.scatter(x, summary["y"], color=SET_COLORS.get(set_name, "#4c72b0"), zorder=3)
        for model, xi, yi in zip(summary["models"], x, summary["y"]):
            axis.annotate(model, (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize=7)
        band = summary["band"]
        axis.plot(band["x"], band["prediction"], color="#333333", linewidth=1)
        axis.fill_between(band["x"], band["low"], band["high"], color="#999999", alpha=0.25,
                          label=f"{100 * summary['confidence']:.0f}% prediction interval")
        for row in evaluated:
            value = row[set_name]
            axis.errorbar(row["minisuperb_score"], value["prediction"], color="black", marker="*", markersize=10,
                          yerr=[[value["prediction"] - value["low"]], [value["high"] - value["prediction"]]], capsize=3)
            axis.annotate(row["model"], (row["minisuperb_score"], value["prediction"]), xytext=(5, -10),
                          textcoords="offset points", fontsize=8, fontweight="bold")
        axis.set_xlabel("MiniSUPERB score (paper's figure)")
        axis.set_ylabel(f"{titles.get(set_name, set_name)} score")
        axis.set_title(f"MiniSUPERB -> {titles.get(set_name, set_name)}\nLOO RMSE {summary['loo']['rmse']:.1f} "
                       f"(n = {summary['n']})", fontsize=10)
        axis.legend(fontsize=7, loc="upper left")
    axis = axes.flat[len(maps)]
    for set_name, summary in loo.items():
        axis.scatter(summary["y"], summary["loo"]["predictions"], s=14, color=SET_COLORS.get(set_name, "#4c72b0"),
                     label=f"{titles.get(set_name, set_name)}: RMSE {summary['loo']['rmse']:.1f}")
    limits = [min(axis.get_xlim()[0], axis.get_ylim()[0]), max(axis.get_xlim()[1], axis.get_ylim()[1])]
    axis.plot(limits, limits, color="#888888", linewidth=0.8)
    axis.set_xlabel("published SUPERB score")
    axis.set_ylabel("leave-one-out prediction")
    axis.set_title("Published tables: from the four task points", fontsize=10)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    return figure
