"""`minisuperb report`: results table + extraction summaries + data stats -> results/report/
(scores.csv, correlation.json, cost.csv, figures/*.png, report.md, report.html)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from minisuperb.errors import MinisuperbError
from minisuperb.report import analysis, correlation, cost, expectations, figures, published_studies, scoring
from minisuperb.report import study_report
from minisuperb.report.analysis import SCORE, run_label
from minisuperb.report.document import (Figure, Section, Table, correlation_text, interval_text, macs_text,
                                         megabytes_text, p_text, reduction_text, score_text, seconds_text, share_text,
                                         to_html, to_markdown)

TITLE = "MiniSUPERB report"
OUTPUTS = ("scores.csv", "correlation.json", "cost.csv", "report.md", "report.html", published_studies.JSON_FILE)
SET_TITLES = {"paper": "SUPERB paper set", "public": "SUPERB public set",
              "hidden-dev": "SUPERB hidden dev", "hidden-test": "SUPERB hidden test"}
FULL_RUN_TITLE = "full run"


# The training table's columns the report reads (`minisuperb collect --training-output`).
TRAINING_COLUMNS = ("protocol", "sampling", "seed", "train_seed", "model", "task")


def read_training(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise MinisuperbError(f"training table {path} does not exist; run `minisuperb collect` first.")
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:  # pandas' EmptyDataError and ParserError are ValueErrors
        raise MinisuperbError(f"training table {path} is not a CSV table ({error}); run `minisuperb collect` "
                              "to write it again.") from error
    missing = [column for column in TRAINING_COLUMNS if column not in table.columns]
    if missing:
        raise MinisuperbError(f"training table {path} has no column {', '.join(missing)}: it is not the "
                              "training table of `minisuperb collect` (--training-output); pass that one.")
    return table


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


def comparisons(corr: Mapping) -> dict[str, dict]:
    """Title -> correlation entry of every ranking the mini run is compared with."""
    titles = {SET_TITLES[name]: entry for name, entry in corr["references"].items()}
    return titles | ({FULL_RUN_TITLE: corr["full_run"]} if "full_run" in corr else {})


def scatter_panels(scores: pd.DataFrame, references: Mapping, corr: Mapping,
                   full_scores: pd.DataFrame | None) -> list[dict]:
    """One panel per comparison with a correlation (MIN_MODELS models or more)."""
    ours = scores.dropna(subset=["reference"]).set_index("reference")[SCORE].to_dict()
    panels = [{"title": SET_TITLES[name], "xlabel": f"SUPERB score ({name})", "x": ref["score"], "y": ours,
               "rho": corr["references"][name]["spearman"]["value"]}
              for name, ref in references.items() if corr["references"][name]["spearman"]]
    if full_scores is not None and corr["full_run"]["spearman"]:
        panels.append({"title": FULL_RUN_TITLE, "xlabel": "MiniSUPERB score of the full run",
                       "x": full_scores.set_index("upstream")[SCORE].to_dict(),
                       "y": scores.set_index("upstream")[SCORE].to_dict(), "rho": corr["full_run"]["spearman"]["value"]})
    return panels


def swaps_text(pairs: list, shown: int = 4) -> str:
    """The models that broke the order: "a/b swap, ..." (first `shown` pairs)."""
    if not pairs:
        return "none"
    text = ", ".join(f"{a}/{b}" for a, b in pairs[:shown])
    return text + (f" and {len(pairs) - shown} more pairs" if len(pairs) > shown else "") + " swap"


def spearman_text(entry: Mapping) -> str:
    """One comparison in a few words: rho, its interval, p, the models and those that broke the order."""
    rho = entry["spearman"]
    p = p_text(rho["p_value"])
    details = [f"p {p if p.startswith('<') else '= ' + p}", f"{entry['n']} models"]
    if entry["order_broken"]:
        details.append(swaps_text(entry["order_broken"]))
    ci = f" {interval_text(rho['ci'])}" if rho["ci"] else ""
    return f"{correlation_text(rho['value'])}{ci} ({'; '.join(details)})"


def agreement_table(rows: list[tuple[dict, Mapping]]) -> Table:
    """Rows of (leading cells, correlation entry) with a correlation; the interval columns only
    when some row has an interval."""
    frame = pd.DataFrame([{**lead, "models": entry["n"],
                           "Spearman": entry["spearman"]["value"], "rho 95% CI": entry["spearman"]["ci"],
                           "rho p": entry["spearman"]["p_value"],
                           "Kendall": entry["kendall"]["value"], "tau 95% CI": entry["kendall"]["ci"],
                           "tau p": entry["kendall"]["p_value"], "order broken": swaps_text(entry["order_broken"])}
                          for lead, entry in rows])
    intervals = ["rho 95% CI", "tau 95% CI"]
    if frame[intervals].isna().all().all():
        frame = frame.drop(columns=intervals)
    return Table(frame, {"Spearman": correlation_text, "Kendall": correlation_text, "rho p": p_text, "tau p": p_text,
                         **dict.fromkeys(intervals, interval_text)})


def skipped_text(corr: Mapping) -> str | None:
    """The comparisons left out of the tables and the figure, grouped by why, in one sentence."""
    skipped: dict[str, list[str]] = {}
    for title, entry in comparisons(corr).items():
        scopes = {"score": entry, **entry.get("per_task", {})}
        left = {scope: sub["note"] for scope, sub in scopes.items() if sub["spearman"] is None}
        whole = len(left) == len(scopes) and len(set(left.values())) == 1
        for scope, note in left.items():
            skipped.setdefault(note, []).append(title if whole else f"{title} {scope}")
            if whole:
                break
    if not skipped:
        return None
    return (f"Not shown, since a rank correlation needs {correlation.MIN_MODELS} models ranked on both sides: "
            + "; ".join(f"{', '.join(titles)} ({note})" for note, titles in skipped.items()) + ".")


def missing_text(missing: list[dict]) -> str:
    """The models no SUPERB table scores, grouped by why."""
    if not missing:
        return "Every model of the run has a row in the SUPERB tables."
    reasons: dict[str, list[str]] = {}
    for item in missing:
        reasons.setdefault(item["why"], []).append(item["model"])
    return ("Models in no SUPERB table, left out of those comparisons: "
            + "; ".join(f"{', '.join(models)} ({why})" for why, models in reasons.items()) + ".")


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


FBANK_CONVENTION = (
    "The 0 point is SUPERB's FBANK as its tables report it: a single layer, so no layer-norm and no "
    "weighted sum in the featurizer, and on SID fbank without CMVN (s3prl's fbank_no_cmvn, the "
    "leaderboard's FBANK SID row). A baseline model extracted otherwise is not that 0 point."
)
RUN_POINTS_WARNING = (
    "These scores use the run's own scale (report.points: run): a model added later that beats the "
    "best on some metric moves that metric's SOTA point, which rescales every score and can reorder "
    "models already scored. Fixed points (report.points: config) do not move."
)
METHOD_TEXT = (
    "Spearman's rho and Kendall's tau-b (scipy) over the models both rankings score; per-task rows "
    "compare task points. p: two-sided, of no association, from the exact null distribution up to "
    f"{correlation.INTERVAL_MODELS} models (every ordering of the models, or Kendall's own exact "
    f"distribution when nothing ties), else {correlation.PERMUTATIONS:,} random orderings; even "
    "perfect agreement gives p = 0.33 with 3 models and 0.083 with 4. 95% intervals: BCa bootstrap "
    f"over the models, given from {correlation.INTERVAL_MODELS} models on: below that an interval "
    "means little, and when the rankings agree every resample agrees, so a percentile interval "
    "would shrink to a point."
)


def audio_hours(run_seconds: Mapping[tuple[str, str], float], superb_data: Mapping[str, Mapping]) -> tuple[float, float]:
    """(hours of audio one evaluation by the run extracts, hours of the full datasets the SUPERB
    count assumes for the same tasks: train and every evaluated split)."""
    per_task = {task: seconds for (_, task), seconds in run_seconds.items()}  # models share the lists
    full = sum(superb_data[task]["train_hours"] + sum(part["hours"] for part in superb_data[task]["eval"])
               for task in per_task)
    return sum(per_task.values()) / 3600.0, full


def cost_summary(overall: pd.Series, hours: tuple[float, float]) -> str:
    text = "Cost"
    if "full_run_total_macs" in overall:
        text += (f": the mini run used {share_text(100 - overall['full_run_reduction_percent'])}% of the full run's "
                 f"MACs ({macs_text(overall['mini_total_macs'])} against {macs_text(overall['full_run_total_macs'])}, "
                 f"measured) and {share_text(100 * overall['train_wall_s'] / overall['full_run_train_wall_s'])}% of its "
                 f"training wall time ({seconds_text(overall['train_wall_s'])} s against "
                 f"{seconds_text(overall['full_run_train_wall_s'])} s; the extraction, shared by both runs, took "
                 f"{seconds_text(overall['extract_wall_s'])} s). Against")
    else:
        text += f": {macs_text(overall['mini_total_macs'])} MACs; against"
    run_hours, full_hours = hours
    # On a small corpus (the demo's) this ratio mostly measures the data: say how much there is.
    return (text + f" the full SUPERB protocol on the full datasets (counted; {full_hours:,.0f} h of audio "
            f"against this run's {run_hours:,.1f} h): "
            f"{reduction_text(overall['reduction_percent'])}% fewer MACs "
            f"({reduction_text(overall['reduction_upstream_once_percent'])}% with SUPERB's upstream counted once per "
            "utterance, the accounting behind the paper's 97%).")


def summary(scores: pd.DataFrame, run: Mapping, seeds: str, corr: Mapping, overall: pd.Series,
            settings: Mapping, checked: list[expectations.Outcome], hours: tuple[float, float]) -> list[str]:
    """The report's first lines: what the run found."""
    ranked = scores.dropna(subset=[SCORE])
    ranking = ", ".join(f"{rank}. {model} {score_text(score)}"
                        for rank, model, score in zip(ranked["rank"], ranked["upstream"], ranked[SCORE]))
    bullets = [f"Ranking of run {run_label(run)} ({seeds}): {ranking}."]
    if checked:
        bullets.append(expectations.summary_text(checked))
    shown = {title: entry for title, entry in comparisons(corr).items() if entry["spearman"]}
    if "full_run" in corr:
        entry = corr["full_run"]
        bullets.append(f"Mini against full run ({run_label(corr['runs']['full'])}), Spearman: "
                       + (spearman_text(entry) if entry["spearman"] else entry["note"]) + ".")
    superb = {title: entry for title, entry in shown.items() if title != FULL_RUN_TITLE}
    if superb:
        bullets.append("Against SUPERB, Spearman: "
                       + "; ".join(f"{title} {spearman_text(entry)}" for title, entry in superb.items()) + ".")
    else:
        bullets.append(f"Against SUPERB: no comparison, since fewer than {correlation.MIN_MODELS} of the run's models "
                       "have a score in the SUPERB tables.")
    if any(entry["n"] < correlation.INTERVAL_MODELS for entry in shown.values()):
        bullets.append(f"No 95% interval where fewer than {correlation.INTERVAL_MODELS} models are compared: "
                       "there the p-value says how often chance alone orders them as well.")
    bullets.append(cost_summary(overall, hours))
    if settings["points"] == "run":
        bullets.append("Scored on the run's own scale (report.points: run): a model added later can rescale "
                       "these scores and reorder them (see Ranking).")
    return bullets


def ranking_table(scores: pd.DataFrame) -> Table:
    tasks = [c for c in scores.columns if c.endswith("_points")]
    # A SUPERB column only where it ranks enough models to compare with.
    superb = [f"superb_{n}" for n in SET_TITLES if scores[f"superb_{n}"].notna().sum() >= correlation.MIN_MODELS]
    columns = {"rank": "rank", "upstream": "model", "reference": "SUPERB row", SCORE: "score",
               f"{SCORE}_std": "± sd", **{c: c.replace("_points", " points") for c in tasks},
               **{c: SET_TITLES[c[len("superb_"):]] for c in superb}}
    frame = scores[list(columns)].rename(columns=columns)
    numbers = ["score", "± sd", *[columns[c] for c in (*tasks, *superb)]]
    return Table(frame, dict.fromkeys(numbers, score_text))


def cost_tables(per_model: pd.DataFrame) -> list[Table]:
    """MACs per model, then the measured resources per model."""
    macs = {"model": "model", "mini_total_macs": "MiniSUPERB MACs", "full_run_total_macs": "full run MACs",
            "full_run_reduction_percent": "saved vs full run (%)", "superb_total_macs": "SUPERB MACs (counted)",
            "reduction_percent": "saved vs SUPERB (%)",
            "reduction_upstream_once_percent": "saved, SUPERB upstream once (%)"}
    resources = {"model": "model", "extract_wall_s": "extraction (s)", "train_wall_s": "training, mini (s)",
                 "full_run_train_wall_s": "training, full run (s)", "extract_bytes": "features (MB)",
                 "train_bytes": "heads, mini (MB)"}
    formats = {**dict.fromkeys(["MiniSUPERB MACs", "full run MACs", "SUPERB MACs (counted)"], macs_text),
               **dict.fromkeys(["saved vs full run (%)", "saved vs SUPERB (%)", "saved, SUPERB upstream once (%)"],
                               reduction_text),
               **dict.fromkeys(["extraction (s)", "training, mini (s)", "training, full run (s)"], seconds_text),
               **dict.fromkeys(["features (MB)", "heads, mini (MB)"], megabytes_text)}
    return [Table(per_model[[c for c in columns if c in per_model]].rename(columns=columns), formats)
            for columns in (macs, resources)]


def sections(scores: pd.DataFrame, points: scoring.Points, settings: Mapping, run: Mapping, seeds: str,
             corr: Mapping, cost_frame: pd.DataFrame, figure_paths: Mapping[str, Path],
             hours: tuple[float, float]) -> list[Section]:
    checked = expectations.check(scores, settings.get("expectations", []), settings["metrics"])
    metrics = analysis.metric_columns(scores)
    per_model = cost_frame[cost_frame["task"] == cost.ALL]
    overall = per_model[per_model["model"] == cost.ALL].iloc[0]
    superb_rows = [({"compared with": title, "scope": scope}, sub)
                   for title, entry in comparisons(corr).items() if title != FULL_RUN_TITLE
                   for scope, sub in {"score": entry, **entry["per_task"]}.items() if sub["spearman"]]
    # Mini against full run, per task: how far the mini protocol moves each task's ranking.
    full_rows = ([({"compared with": f"full run ({run_label(corr['runs']['full'])})", "scope": scope}, sub)
                  for scope, sub in {"score": corr["full_run"], **corr["full_run"]["per_task"]}.items()
                  if sub["spearman"]] if "full_run" in corr else [])
    ranking_notes = [
        f"MiniSUPERB run {run_label(run)}, {seeds}; metrics averaged over the seeds before scoring; ± sd "
        "is the standard deviation of the scores of the single runs.",
        points_text(points, settings), FBANK_CONVENTION,
    ] + ([RUN_POINTS_WARNING] if settings["points"] == "run" else [])
    agreement_notes = [
        METHOD_TEXT,
        *filter(None, [skipped_text(corr)]),
        missing_text(corr["missing_from_references"]),
        *(["The SE and SS reference values predate the *_stft2 recipes MiniSUPERB uses."] if superb_rows else []),
        "The paper's own 0.954 and 0.982 are its 11 published scores in its figure's order against the "
        "SUPERB paper and public sets (`minisuperb paper-correlation`).",
    ]
    agreement_tables = ([agreement_table(superb_rows)] if superb_rows else []) + (
        [agreement_table(full_rows)] if full_rows else [])
    return [
        Section("Summary", bullets=summary(scores, run, seeds, corr, overall, settings, checked, hours)),
        Section("Ranking", ranking_notes, [ranking_table(scores)],
                Figure(figure_paths["ranking"], "MiniSUPERB score per model")),
        *([Section("Expectations", [
            "Checks a speech researcher makes before trusting the ranking (report.expectations), on the "
            "test metrics of this run. One that does not hold points at a task or model to look into, "
            "not at a bug by itself.",
        ], [Table(expectations.table(checked))])] if checked else []),
        Section("Per-task metrics", [
            "Test-set metrics in the units of the SUPERB tables (WER/CER/accuracy/STOI in percent, PESQ "
            "raw, SI-SDRi in dB), mean over seeds. SID features are the per-layer time-average of each "
            "utterance, stored once (as the MiniSUPERB reference code does), which cuts SID storage by "
            "about two orders of magnitude.",
        ], [Table(scores[["upstream", *metrics]].rename(columns={"upstream": "model"}),
                  dict.fromkeys(metrics, lambda v: f"{v:.2f}"))],
            Figure(figure_paths["per_task"], "Per-task test metrics")),
        Section("Rank agreement", agreement_notes, agreement_tables,
                Figure(figure_paths["scatter"], "MiniSUPERB against SUPERB and full-run scores")
                if "scatter" in figure_paths else None),
        Section("Cost", [
            cost.METHOD, cost.PAPER_ACCOUNTING,
            "Wall time and bytes on disk: extraction (the features stage, one store per model and task, "
            "shared by the runs) and training (sum over tasks of the mean over seeds; heads = the "
            "training output folders).",
        ], cost_tables(per_model[per_model["model"] != cost.ALL]),
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
    seeds = {key: sorted(int(s) for s in mini_rows[column].unique())
             for key, column in (("seeds", "seed"), ("train_seeds", "train_seed"))}
    seeds_text = " x ".join(f"{what} seeds {', '.join(map(str, seeds[key]))}"
                            for what, key in (("sampling", "seeds"), ("training", "train_seeds")))
    # "full_run" is left to the full-run correlation entry (present only when a full run is set).
    corr = {"runs": {"mini": run, "full": full_run}, **seeds, "points": settings["points"],
            "score_points": {m: {"fbank": b, "sota": t} for m, (b, t) in points.items()},
            "bootstrap": settings["bootstrap"], "confidence": settings["confidence"],
            "bootstrap_seed": settings["seed"], "interval_models": correlation.INTERVAL_MODELS,
            "permutations": correlation.PERMUTATIONS, **corr}

    runs = {label: r for label, r in (("mini", run), ("full_run", full_run)) if r}
    run_seconds = {label: extracted_seconds(training, r, stats) for label, r in runs.items()}
    measured = {label: analysis.run_costs(training, r, summaries, run_seconds[label]) for label, r in runs.items()}
    cost_frame = cost.cost_table(analysis.cost_rows(measured["mini"], summaries, settings, measured.get("full_run")))

    output_dir.mkdir(parents=True, exist_ok=True)
    all_scores = pd.concat([table for table, _ in scored.values()], ignore_index=True)
    all_scores.to_csv(output_dir / "scores.csv", index=False)
    (output_dir / "correlation.json").write_text(json.dumps(_json_safe(corr), indent=2, sort_keys=True) + "\n")
    cost_frame.to_csv(output_dir / "cost.csv", index=False)

    panels = scatter_panels(scores, references, corr, full_scores)
    figure_paths = figures.write_all(output_dir, scores, analysis.metric_columns(scores), panels, cost_frame,
                                     f"MiniSUPERB ranking ({run_label(run)})")
    # Without a comparison the scatter file (a Snakemake output) holds only a note; the report skips it.
    shown = {k: v for k, v in figure_paths.items() if panels or k != "scatter"}
    report_sections = sections(scores, points, settings, run, seeds_text, corr, cost_frame, shown,
                               audio_hours(run_seconds["mini"], settings["superb_data"]))
    # The studies of report.studies (config/studies.yaml): a section and a figure each.
    run_sections, run_figures = study_report.write(
        output_dir, settings, results, scored, run, full_run,
        lambda r: analysis.run_costs(training, r, summaries, extracted_seconds(training, r, stats)))
    report_sections += run_sections
    figure_paths = {**figure_paths, **run_figures}
    # The studies on the published SUPERB tables (no training), with predictions for the run's models
    # that have no SUPERB row.
    studies = published_studies.run(reference_dir, settings["bootstrap"], settings["seed"], settings["confidence"])
    unrowed = [item["model"] for item in corr["missing_from_references"]]
    evaluated = published_studies.predictions(scores, unrowed, studies.minisuperb)
    study_figures = published_studies.write_outputs(output_dir, studies, evaluated, SET_TITLES)
    figure_paths = {**figure_paths, **study_figures}
    report_sections += published_studies.sections(studies, study_figures, SET_TITLES, evaluated, unrowed)
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

