"""The report's study sections and figures (report.studies): the numbers come from
`minisuperb.report.studies`; each configured study writes figures/study_<name>.png (the names
rules/common.smk's `study_figures` declares as outputs) and adds one section."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from minisuperb.report import analysis, studies
from minisuperb.report.analysis import SCORE, run_label
from minisuperb.report.document import (Figure, Section, Table, correlation_text, interval_text, macs_text, p_text,
                                         score_text, seconds_text, share_text)
from minisuperb.report.figures import grid, plt, save

COMPARISON_FORMATS = {"Spearman": correlation_text, "rho p": p_text, "Kendall": correlation_text, "tau p": p_text,
                      "rho 95% CI": interval_text, "tau 95% CI": interval_text}


def comparison_columns(frame: pd.DataFrame, lead: Mapping[str, str]) -> Table:
    """A table of `lead` columns then the comparison (studies.comparison_row); the interval
    columns only where some row has one, the note only where some row has one."""
    columns = {**lead, "models": "models", "spearman": "Spearman", "spearman_ci": "rho 95% CI", "spearman_p": "rho p",
               "kendall": "Kendall", "kendall_ci": "tau 95% CI", "kendall_p": "tau p", "note": "note"}
    table = frame[list(columns)].rename(columns=columns)
    empty = [c for c in ("rho 95% CI", "tau 95% CI", "note") if table[c].isna().all()]
    return Table(table.drop(columns=empty), COMPARISON_FORMATS)


def correlation_summary(row: Mapping) -> str:
    """"rho 0.943 [0.6, 1.0] (p = 0.017), tau 0.867 (p = 0.017)", or the note."""
    if row["note"]:
        return f"no correlation ({row['note']})"
    parts = []
    for method, name in (("spearman", "Spearman"), ("kendall", "Kendall")):
        ci = f" {interval_text(row[f'{method}_ci'])}" if row[f"{method}_ci"] else ""
        parts.append(f"{name} {correlation_text(row[method])}{ci} (p = {p_text(row[f'{method}_p'])})")
    return ", ".join(parts)


def interval_note(frame: pd.DataFrame) -> list[str]:
    from minisuperb.report.correlation import INTERVAL_MODELS

    if (frame["models"] < INTERVAL_MODELS).any():
        return [f"No 95% interval where fewer than {INTERVAL_MODELS} models are compared (see Rank agreement); "
                "the p-value says how often chance alone orders them as well."]
    return []


# --- fraction sweep --------------------------------------------------------------------------


def fraction_figure(sweep: pd.DataFrame) -> plt.Figure:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.0))
    percent = 100 * sweep["fraction"]
    for method, marker in (("spearman", "o"), ("kendall", "s")):
        left.plot(percent, sweep[method], marker=marker, label=method.capitalize())
    left.axhline(0, color="black", linewidth=0.6)
    left.set(xscale="log", xlabel="training fraction (%)", ylabel="rank correlation with the full run", ylim=(-1.05, 1.05))
    left.set_title("Ranking against the full run's", fontsize=10)
    left.legend(fontsize=8)
    right.plot(percent, sweep["macs_share"], marker="o", label="MACs (extraction + heads)")
    right.plot(percent, sweep["wall_share"], marker="s", label="training wall time")
    right.set(xscale="log", xlabel="training fraction (%)", ylabel="% of the full run's")
    right.set_title("Cost against the full run's", fontsize=10)
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.set_xticks(percent, [f"{p:g}" for p in percent])
    figure.tight_layout()
    return figure


def fraction_section(sweep: pd.DataFrame, protocol: str, full_run: Mapping, full_cost: Mapping, figure: Path) -> Section:
    last = sweep.iloc[sweep["fraction"].idxmin()]
    headline = (f"At {100 * last['fraction']:g}% of the training data the ranking agrees with the full run's at "
                f"{correlation_summary(last)}, for {share_text(last['macs_share'])}% of its MACs; at 100%: "
                f"{correlation_summary(sweep.iloc[sweep['fraction'].idxmax()])}.")
    frame = sweep.assign(fraction=100 * sweep["fraction"])
    table = comparison_columns(frame, {"fraction": "fraction (%)", "tasks": "tasks"})
    extra = frame[["macs", "macs_share", "train_wall_s", "wall_share"]].rename(columns={
        "macs": "MACs", "macs_share": "MACs, % of full run", "train_wall_s": "training (s)",
        "wall_share": "training, % of full run"})
    table = Table(pd.concat([table.frame, extra], axis=1),
                  {**table.formats, "fraction (%)": lambda v: f"{v:g}", "MACs": macs_text,
                   "MACs, % of full run": share_text, "training (s)": seconds_text, "training, % of full run": share_text})
    notes = [
        headline,
        f"Runs of protocol {protocol} on frac<F> subsets of each task's train split (stratified per speaker; "
        "dev: the paper's dev counts; test: whole), one sampling seed and one training seed each, ranked by the "
        f"MiniSUPERB score against the full run {run_label(full_run)} "
        f"({macs_text(full_cost['macs'])} MACs, {seconds_text(full_cost['train_wall_s'])} s of training). Cost: "
        "extraction of the run's subset lists (the upstream once per utterance) plus the heads' measured "
        "training and evaluation MACs (as in Cost), summed over models and tasks; training wall time summed "
        "over the jobs. Extraction wall time is shared by every run and left out.",
        *interval_note(sweep),
    ]
    return Section("Study: training fraction", notes, [table], Figure(figure, "Rank correlation with the full run and cost, against the training fraction"))


# --- seeds -----------------------------------------------------------------------------------


def seeds_figure(result: Mapping) -> plt.Figure:
    rankings = result["rankings"]
    labels = [f"{s}/{t}" for s, t in zip(rankings["seed"], rankings["train_seed"])]
    pairs = result["pairs"]
    matrix = pd.DataFrame(np.eye(len(labels)), index=labels, columns=labels)
    for a, b, tau in zip(pairs["a"], pairs["b"], pairs["kendall"]):
        matrix.loc[a, b] = matrix.loc[b, a] = tau
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.3]})
    image = left.imshow(matrix.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu")
    left.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    left.set_yticks(range(len(labels)), labels, fontsize=7)
    left.set_title("Kendall's tau between seed pairs\n(sampling seed / training seed)", fontsize=10)
    figure.colorbar(image, ax=left, fraction=0.046)
    models = [c for c in rankings.columns if c not in ("seed", "train_seed", "top")]
    order = sorted(models, key=lambda m: rankings[m].mean())
    for y, model in enumerate(order):
        values = rankings[model].to_numpy(dtype=float)
        right.scatter(values, np.full(len(values), y), color="#4c72b0", alpha=0.6, s=18)
        right.plot([np.nanmean(values)] * 2, [y - 0.3, y + 0.3], color="black")
    right.set_yticks(range(len(order)), order, fontsize=8)
    right.set_xlabel("MiniSUPERB score of one seed pair (bar: mean)")
    right.set_title("Score per seed pair", fontsize=10)
    figure.tight_layout()
    return figure


def seeds_section(result: Mapping, run: Mapping, figure: Path) -> Section:
    agreement = result["agreement"]
    ci = f" {interval_text(agreement['mean_kendall_ci'])}" if agreement["mean_kendall_ci"] else ""
    kinds = "; ".join(f"{kind} differs: {correlation_text(value)}" for kind, value in sorted(agreement["by_kind"].items()))
    tops = ", ".join(f"{model} {count}" for model, count in agreement["tops"].items())
    headline = (f"Over {agreement['seed_pairs']} rankings of {agreement['models']} models (sampling seed x training "
                f"seed), mean pairwise Kendall {correlation_text(agreement['mean_kendall'])}{ci} ({kinds}); the top "
                f"model changes in {share_text(100 * agreement['top_change_share'])}% of the pairs of rankings "
                f"(top model: {tops}).")
    metrics = result["metrics"]
    spread = result["spread"]
    columns = {"upstream": "model"}
    for metric in metrics:
        name = "score" if metric == SCORE else metric
        columns |= {f"{metric}_mean": f"{name} mean", f"{metric}_std": f"{name} sd"}
    table = Table(spread[list(columns)].rename(columns=columns),
                  {c: (score_text if c.startswith("score") else (lambda v: f"{v:.2f}")) for c in columns.values() if c != "model"})
    notes = [
        headline,
        f"Run {run_label(run)}, trained once per (sampling seed, training seed): each seed pair's metrics are scored "
        "with the run's points and ranked. The interval is a percentile bootstrap over the seed pairs (rankings "
        "drawn with replacement, a ranking never paired with itself). sd: standard deviation over the seed pairs "
        "of each metric (test set) and of the score.",
    ]
    return Section("Study: seeds", notes, [table], Figure(figure, "Rank agreement between seed pairs and the spread of the score"))


# --- task subsets ------------------------------------------------------------------------------


def task_subsets_figure(result: pd.DataFrame) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(8, 0.32 * len(result) + 1.4))
    positions = np.arange(len(result))[::-1]
    colors = plt.get_cmap("viridis")(np.linspace(0.15, 0.85, max(result["size"])))
    axis.barh(positions, result["spearman"].fillna(0.0), color=[colors[s - 1] for s in result["size"]])
    axis.scatter(result["kendall"], positions, color="black", marker="|", s=80, label="Kendall", zorder=3)
    axis.set_yticks(positions, result["tasks"], fontsize=8)
    axis.axvline(0, color="black", linewidth=0.6)
    axis.set_xlim(-1.05, 1.05)
    axis.set_xlabel("Spearman (bars) and Kendall (ticks) with the full run's all-task score")
    axis.set_title("Task subsets of the mini run", fontsize=10)
    axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    return figure


def task_subsets_section(result: pd.DataFrame, mini_run: Mapping, full_run: Mapping, figure: Path) -> Section:
    everything = result.iloc[-1]
    valid = result.dropna(subset=["spearman"])
    best = valid.sort_values(["spearman", "size"], ascending=[False, True]).iloc[0] if len(valid) else None
    single = valid[valid["size"] == 1].sort_values("spearman", ascending=False)
    headline = f"All {everything['size']} tasks: {correlation_summary(everything)}."
    if best is not None:
        headline += f" Best subset: {best['tasks']}, {correlation_summary(best)}."
    if len(single):
        headline += " Single tasks, best to worst: " + ", ".join(
            f"{t} {correlation_text(v)}" for t, v in zip(single["tasks"], single["spearman"])) + "."
    notes = [
        headline,
        f"The score of run {run_label(mini_run)} on each non-empty subset of its tasks (the mean of the subset's "
        f"task points, as the MiniSUPERB score averages its tasks) against the all-task score of the full run "
        f"{run_label(full_run)}: how well a smaller benchmark ranks models like the whole one.",
        *interval_note(result),
    ]
    return Section("Study: task subsets", notes, [comparison_columns(result, {"tasks": "tasks"})],
                   Figure(figure, "Rank correlation of each task subset's mini score with the full run's score"))


# --- few-shot --------------------------------------------------------------------------------


def few_shot_figure(comparisons: pd.DataFrame, ranks: pd.DataFrame) -> plt.Figure:
    tasks = list(dict.fromkeys(comparisons["task"]))
    figure, axes = grid(len(tasks), 4.0, columns=2)
    for axis, task in zip(axes.flat, tasks):
        runs = comparisons[comparisons["task"] == task]
        x = list(range(len(runs) + 1))
        labels = [f"{a:g}" for a in runs["amount"]] + ["full"]
        for _, row in ranks[ranks["task"] == task].iterrows():
            axis.plot(x, [row.get(s, math.nan) for s in runs["sampling"]] + [row["full"]], marker="o", label=row["model"])
        axis.set_xticks(x, labels)
        axis.invert_yaxis()
        axis.set_xlabel(f"{runs['unit'].iloc[0]} (full: the full run)")
        axis.set_ylabel("rank on the task (1 = best)")
        rho = ", ".join(f"{a:g}: {'n/a' if pd.isna(r) else f'{r:.2f}'}" for a, r in zip(runs["amount"], runs["spearman"]))
        axis.set_title(f"{task}: rank per amount\nSpearman with the full run: {rho}", fontsize=9)
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def few_shot_section(comparisons: pd.DataFrame, ranks: pd.DataFrame, protocol: str, full_run: Mapping,
                     figure: Path) -> Section:
    lines = []
    for task, group in comparisons.groupby("task", sort=False):
        unit = group["unit"].iloc[0]
        lines.append(f"{task} ({unit}): " + "; ".join(
            f"{a:g}: {correlation_summary(row)}" for a, (_, row) in zip(group["amount"], group.iterrows())) + ".")
    notes = [
        *lines,
        f"Runs of protocol {protocol} on few-shot subsets: k<K> takes K training utterances of every speaker (SID), "
        "min<M> the first M minutes of training audio in the seed's key order (ASR); each task's ranking (its "
        f"points) against that task's ranking in the full run {run_label(full_run)}. Ranks: 1 = best, ties share "
        "the best rank.",
        *interval_note(comparisons),
    ]
    rank_tables = []
    for task in dict.fromkeys(comparisons["task"]):
        samplings = [*comparisons.loc[comparisons["task"] == task, "sampling"], "full"]
        frame = ranks.loc[ranks["task"] == task, ["task", "model", *samplings]]
        rank_tables.append(Table(frame.rename(columns=lambda c: c if c in ("task", "model") else f"rank, {c}"),
                                 {f"rank, {c}": (lambda v: f"{v:.0f}") for c in samplings}))
    return Section("Study: few-shot", notes,
                   [comparison_columns(comparisons, {"task": "task", "sampling": "sampling"}), *rank_tables],
                   Figure(figure, "Each model's rank per amount of few-shot data, and in the full run"))


# --- all studies -----------------------------------------------------------------------------


def write(output_dir: Path, settings: Mapping, results: pd.DataFrame, scored: Mapping[tuple[str, str], tuple],
          mini_run: Mapping, full_run: Mapping | None, run_costs: Callable[[Mapping], Mapping]) -> tuple[list[Section], dict[str, Path]]:
    """The sections and figures of every study report.studies configures. `scored`: (protocol,
    sampling) -> (score table, points) of every run; `run_costs(run)`: analysis.run_costs of a run."""
    configured = settings.get("studies") or {}
    figure_dir = output_dir / "figures"
    full = scored[(full_run["protocol"], full_run["sampling"])][0] if full_run else None
    sections, paths = [], {}

    def runs_of(protocol: str, prefixes: tuple[str, ...]) -> dict[str, pd.DataFrame]:
        return {s: table for (p, s), (table, _) in sorted(scored.items()) if p == protocol and s.startswith(prefixes)}

    if configured.get("fractions"):
        protocol = configured["fractions"]["protocol"]
        runs = runs_of(protocol, ("frac",))
        costs = {s: studies.total_cost(run_costs({"protocol": protocol, "sampling": s})) for s in runs}
        full_cost = studies.total_cost(run_costs(full_run))
        sweep = studies.fraction_sweep(runs, full, costs, full_cost, settings)
        paths["study_fractions"] = save(fraction_figure(sweep), figure_dir / "study_fractions.png")
        sections.append(fraction_section(sweep, protocol, full_run, full_cost, paths["study_fractions"]))
    if configured.get("seeds"):
        run = configured["seeds"]
        result = studies.seed_study(analysis.run_rows(results, run), scored[(run["protocol"], run["sampling"])][1], settings)
        paths["study_seeds"] = save(seeds_figure(result), figure_dir / "study_seeds.png")
        sections.append(seeds_section(result, run, paths["study_seeds"]))
    if configured.get("task_subsets"):
        mini = scored[(mini_run["protocol"], mini_run["sampling"])][0]
        result = studies.task_subset_study(mini, full, settings)
        paths["study_task_subsets"] = save(task_subsets_figure(result), figure_dir / "study_task_subsets.png")
        sections.append(task_subsets_section(result, mini_run, full_run, paths["study_task_subsets"]))
    if configured.get("few_shot"):
        protocol = configured["few_shot"]["protocol"]
        comparisons, ranks = studies.few_shot_study(runs_of(protocol, ("k", "min")), full, settings)
        paths["study_few_shot"] = save(few_shot_figure(comparisons, ranks), figure_dir / "study_few_shot.png")
        sections.append(few_shot_section(comparisons, ranks, protocol, full_run, paths["study_few_shot"]))
    return sections, paths
