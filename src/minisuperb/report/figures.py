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
