"""`minisuperb report`: results table + extraction summaries + data stats -> results/report/
(scores.csv, correlation.json, cost.csv, figures/*.png, report.md, report.html)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from minisuperb.errors import MinisuperbError
from minisuperb.report import analysis, cost, figures, scoring
from minisuperb.report.analysis import SCORE, run_label
from minisuperb.report.document import Figure, Section, to_html, to_markdown

TITLE = "MiniSUPERB report"
OUTPUTS = ("scores.csv", "correlation.json", "cost.csv", "report.md", "report.html")
SET_TITLES = {"paper": "SUPERB paper set", "public": "SUPERB public set",
              "hidden-dev": "SUPERB hidden dev", "hidden-test": "SUPERB hidden test"}


def read_training(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"training table {path} does not exist; run `minisuperb collect` first.")
    return pd.read_csv(path)


def resolve_mini_run(results: pd.DataFrame, settings: Mapping) -> dict:
    """report.mini_run, or the only run of the table when it is not set."""
    if settings.get("mini_run"):
        return dict(settings["mini_run"])
    runs = results[["protocol", "sampling"]].drop_duplicates()
    if len(runs) != 1:
        raise MinisuperbError(
            "the results table holds several runs "
            f"({', '.join(f'{p}/{s}' for p, s in runs.itertuples(index=False))}); set config key "
            "report.mini_run: {protocol: ..., sampling: ...} to say which one is the MiniSUPERB run."
        )
    return runs.iloc[0].to_dict()


def extracted_seconds(training: pd.DataFrame, run: Mapping, stats: Mapping[str, dict]) -> dict[tuple[str, str], float]:
    """Audio seconds one evaluation extracts per (model, task): the run's subset lists, mean
    over its seeds (models share the lists)."""
    jobs = analysis.of_run(training, run)
    seconds = {(task, seed): cost.subset_seconds(stats[task], run["sampling"], int(seed), task)
               for task, seed in set(zip(jobs["task"], jobs["seed"]))}
    return {(model, task): float(pd.Series([seconds[(task, s)] for s in group["seed"]]).mean())
            for (model, task), group in jobs.groupby(["model", "task"])}


def read_inputs(training: pd.DataFrame, stats_paths: Mapping[str, str],
                summary_paths: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, dict], dict[tuple[str, str], dict]]:
    """Every given stats.json ({task: path}) and extraction summary ({model: {task: path}});
    an error when a job of the training table has no summary or its task no stats."""
    stats = {task: cost.read_stats(path) for task, path in stats_paths.items()}
    summaries = {(model, task): cost.read_summary(path)
                 for model, paths in summary_paths.items() for task, path in paths.items()}
    jobs = sorted(set(zip(training["model"], training["task"])))
    for option, missing in (("--stats", sorted({t for _, t in jobs} - set(stats))),
                            ("--feature-summaries", [f"{m}/{t}" for m, t in jobs if (m, t) not in summaries])):
        if missing:
            raise MinisuperbError(f"{option} gives no file for {', '.join(missing)}, which the training table has.")
    return stats, summaries


def scatter_panels(scores: pd.DataFrame, references: Mapping, corr: Mapping,
                   full_scores: pd.DataFrame | None) -> list[dict]:
    ours = scores.dropna(subset=["reference"]).set_index("reference")[SCORE].to_dict()
    panels = []
    for name, ref in references.items():
        spearman = corr["references"][name]["spearman"]
        panels.append({"title": SET_TITLES[name], "xlabel": f"SUPERB score ({name})", "x": ref["score"],
                       "y": ours, "rho": spearman and spearman["value"]})
    if full_scores is not None:
        spearman = corr["full_run"]["spearman"]
        panels.append({"title": "Full run of this workflow", "xlabel": "MiniSUPERB score of the full run",
                       "x": full_scores.set_index("upstream")[SCORE].to_dict(),
                       "y": scores.set_index("upstream")[SCORE].to_dict(), "rho": spearman and spearman["value"]})
    return panels


def _interval(entry: Mapping | None) -> str:
    if not entry or entry["value"] is None:
        return "n/a"
    low, high = entry["ci"]
    ci = "" if low is None else f" [{low:.3f}, {high:.3f}]"
    return f"{entry['value']:.3f}{ci}"


def correlation_table(corr: Mapping) -> pd.DataFrame:
    def row(title: str, scope: str, entry: Mapping) -> dict:
        return {"compared with": title, "scope": scope, "models": entry["n"],
                "Spearman [95% CI]": _interval(entry["spearman"]), "Kendall [95% CI]": _interval(entry["kendall"])}

    comparisons = {SET_TITLES[n]: e for n, e in corr["references"].items()}
    if "full_run" in corr:
        comparisons["full run"] = corr["full_run"]
    rows = []
    for title, entry in comparisons.items():
        rows.append(row(title, "score", entry))
        rows.extend(row(title, task, sub) for task, sub in entry.get("per_task", {}).items())
    return pd.DataFrame(rows)


def points_text(points: scoring.Points, settings: Mapping) -> str:
    source = (f"FBANK = the run's baseline model {settings['baseline_model']!r}, SOTA = the run's best model per metric"
              if settings["points"] == "run" else "report.reference_points of the config")
    values = "; ".join(f"{m}: FBANK {b:g}, SOTA {t:g}" for m, (b, t) in points.items())
    text = (f"Score: per metric 1000 * (s - FBANK) / (SOTA - FBANK), a task's metrics averaged, "
            f"the mean over tasks. Points ({source}): {values}.")
    left_out = [m for m in settings["metrics"] if m not in points]
    if left_out:
        text += (f" Left out of the score: {', '.join(left_out)} (not run, or no model beats the baseline "
                 "on it, which leaves it without a scale).")
    return text


COST_METHOD = (
    "How MACs are counted. MiniSUPERB upstream: the frozen upstream runs once per utterance of the "
    "subset lists (train, dev, test) at extraction, macs_per_second of the extraction summary x the "
    "audio seconds of the lists. MiniSUPERB downstream: macs.train and macs.eval of metrics.json, as "
    "the trainer counted them (head forward MACs per frame with thop, LSTM included, plus the featurizer; x 3 "
    "per training frame for forward + backward; every dev evaluation and the test), mean over seeds. SUPERB: the same upstream "
    "on the full datasets with SUPERB's protocol (report.superb_protocol): the upstream runs on every "
    "training example of every step (steps x batch x mean training-utterance seconds) and on every "
    "evaluation pass over dev and test; the SUPERB head's forward MACs per frame are counted "
    "analytically from its layers (linear: in x out; BLSTM: 2 x 4 x hidden x (in + hidden)), x 3 for "
    "a training example (forward + backward) and x 1 for evaluation; biases, element-wise "
    "operations, STFTs and utterance-level classifiers are left out. Reduction = 1 - MiniSUPERB / SUPERB."
)


COST_SUMMARY = ("model", "mini_total_macs", "superb_total_macs", "reduction_percent", "full_run_total_macs",
                "full_run_reduction_percent", "extract_wall_s", "train_wall_s", "extract_bytes", "train_bytes")


def reduction_text(overall: pd.Series) -> str:
    # Four significant digits: on the demo corpus the reduction is 99.99...%, which .2f rounds to 100.
    text = (f"Overall reduction of MACs against the full SUPERB protocol on the full datasets: "
            f"{overall['reduction_percent']:.4g}% (the MiniSUPERB paper reports 97%).")
    if "full_run_reduction_percent" in overall:
        text += (f" Against this workflow's full run (all data, its protocol), measured: "
                 f"{overall['full_run_reduction_percent']:.2f}%.")
    return text


def sections(scores: pd.DataFrame, points: scoring.Points, settings: Mapping, run: Mapping, seeds: list,
             corr: Mapping, cost_frame: pd.DataFrame, figure_paths: Mapping[str, Path]) -> list[Section]:
    task_points = [c for c in scores.columns if c.endswith("_points")]
    metrics = analysis.metric_columns(scores)
    missing = corr["missing_from_references"]
    per_model = cost_frame[cost_frame["task"] == cost.ALL]
    return [
        Section("Ranking", [
            f"MiniSUPERB run {run_label(run)}, seeds {', '.join(map(str, seeds))}; metrics averaged over "
            "seeds before scoring; ± is the standard deviation of the per-seed scores.",
            points_text(points, settings),
        ], [scores[["rank", "upstream", "reference", SCORE, f"{SCORE}_std", *task_points,
                    *[f"superb_{n}" for n in SET_TITLES]]]],
            Figure(figure_paths["ranking"], "MiniSUPERB score per model")),
        Section("Per-task metrics", [
            "Test-set metrics in the units of the SUPERB tables (WER/CER/accuracy/STOI in percent, PESQ "
            "raw, SI-SDRi in dB). SID features are the per-layer time-average of each utterance, "
            "stored once (as the MiniSUPERB reference code does), which cuts SID storage by about two "
            "orders of magnitude.",
        ], [scores[["upstream", *metrics]]], Figure(figure_paths["per_task"], "Per-task test metrics")),
        Section("Correlation with SUPERB", [
            f"Spearman and Kendall (tau-b) rank correlation over the models both rankings contain; 95% "
            f"intervals from {settings['bootstrap']} bootstrap resamples of the models (seed {settings['seed']}). "
            "Per-task rows compare task points. The SE and SS reference values predate the *_stft2 "
            "recipes MiniSUPERB uses.",
            ("Models missing from every SUPERB table (left out of the correlations): "
             + "; ".join(f"{m['model']} ({m['why']})" for m in missing) + ".") if missing
            else "Every model of the run has a row in the SUPERB tables.",
        ], [correlation_table(corr)], Figure(figure_paths["scatter"], "MiniSUPERB vs SUPERB scores")),
        Section("Cost", [
            COST_METHOD,
            reduction_text(per_model[per_model["model"] == cost.ALL].iloc[0]),
            "Wall time and bytes on disk per stage: extraction (features stage, the whole store of the "
            "model and task) and training (mean over seeds; its output folder).",
        ], [per_model[[c for c in COST_SUMMARY if c in per_model.columns]]],
            Figure(figure_paths["cost"], "Cost: MACs per model and by stage")),
    ]


def build_report(results_csv: str | Path, training_csv: str | Path, stats_paths: Mapping[str, str],
                 summary_paths: Mapping[str, Mapping[str, str]], settings: Mapping, output_dir: str | Path,
                 reference_dir: str | Path = scoring.REFERENCE_DIR) -> dict[str, Path]:
    output_dir = Path(output_dir)
    results = scoring.read_table(results_csv)
    training = read_training(training_csv)
    stats, summaries = read_inputs(training, stats_paths, summary_paths)
    run = resolve_mini_run(results, settings)
    mini_rows = analysis.run_rows(results, run)
    references = analysis.reference_scores(reference_dir)
    scored = {}  # every run of the table: (protocol, sampling) -> (scores, points)
    for (p, s), rows in results.groupby(["protocol", "sampling"], sort=True):
        table, run_points = analysis.score_run(rows, settings)
        scored[(p, s)] = analysis.with_reference_scores(table, references), run_points
    scores, points = scored[(run["protocol"], run["sampling"])]
    full_run = settings.get("full_run")
    full_scores = None
    if full_run:
        analysis.run_rows(results, full_run)  # fails with a clear message when the run is absent
        full_scores = scored[(full_run["protocol"], full_run["sampling"])][0]

    corr = analysis.correlations(scores, references, settings, full_scores)
    seeds = sorted(int(s) for s in mini_rows["seed"].unique())
    # "full_run" is left to the full-run correlation entry (present only when a full run is set).
    corr = {"runs": {"mini": run, "full": full_run}, "seeds": seeds, "points": settings["points"],
            "score_points": {m: {"fbank": b, "sota": t} for m, (b, t) in points.items()},
            "bootstrap": settings["bootstrap"], "confidence": settings["confidence"],
            "bootstrap_seed": settings["seed"], **corr}

    measured = {label: analysis.run_costs(training, r, summaries, extracted_seconds(training, r, stats))
                for label, r in (("mini", run), ("full_run", full_run)) if r}
    cost_frame = cost.cost_table(analysis.cost_rows(measured["mini"], summaries, settings["superb_protocol"],
                                                    measured.get("full_run")))

    output_dir.mkdir(parents=True, exist_ok=True)
    all_scores = pd.concat([table for table, _ in scored.values()], ignore_index=True)
    all_scores.to_csv(output_dir / "scores.csv", index=False)
    (output_dir / "correlation.json").write_text(json.dumps(_json_safe(corr), indent=2, sort_keys=True) + "\n")
    cost_frame.to_csv(output_dir / "cost.csv", index=False)

    figure_paths = figures.write_all(output_dir, scores, analysis.metric_columns(scores),
                                     scatter_panels(scores, references, corr, full_scores), cost_frame,
                                     f"MiniSUPERB ranking ({run_label(run)})")
    report_sections = sections(scores, points, settings, run, seeds, corr, cost_frame, figure_paths)
    (output_dir / "report.md").write_text(to_markdown(TITLE, report_sections, output_dir))
    (output_dir / "report.html").write_text(to_html(TITLE, report_sections))
    return {name: output_dir / name for name in OUTPUTS} | {f"figures/{k}": v for k, v in figure_paths.items()}


def _json_safe(value):
    """NaN is not JSON: write null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value

