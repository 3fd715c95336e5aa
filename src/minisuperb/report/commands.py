"""Sub-commands of the report stage: `collect`, `superb-score`, `report`, `paper-correlation` and
`published-studies`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from minisuperb.config import json_object, validate_section
from minisuperb.errors import MinisuperbError
from minisuperb.report import scoring
from minisuperb.report.collect import collect
from minisuperb.runtime import set_threads

log = logging.getLogger(__name__)
RUN_GROUP = ("protocol", "sampling", "seed", "train_seed")  # rows of one run and seeds share run points


def report_settings(text: str) -> dict:
    """The `report:` config section from JSON, checked against its schema, defaults filled in."""
    return validate_section(json_object(text, "--settings"), ("report",))


def run_collect(args: argparse.Namespace) -> None:
    set_threads(args.threads)
    references = json_object(args.references, "--references")
    results, training = collect(args.metrics, references)
    for table, path in ((results, args.output), (training, args.training_output)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
    log.info("collected %d result rows and %d training jobs into %s", len(results), len(training), args.output)


def run_superb_score(args: argparse.Namespace) -> None:
    table = scoring.read_table(args.table)
    if args.run_points:
        metrics = scoring.metrics_present(table, scoring.TASK_SETS[args.set][0])
        groups = [c for c in RUN_GROUP if c in table.columns]
        parts = table.groupby(groups, sort=False) if groups else [(None, table)]
        scores = pd.concat([scoring.score_table(part, scoring.points_from_run(part, metrics, args.run_points))
                            for _, part in parts], ignore_index=True)
    else:
        scores = scoring.score_table(table, scoring.set_points(args.set, args.points))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(args.output, index=False)
    log.info("wrote %d scores (%s set) to %s", len(scores), args.set, args.output)


def run_report(args: argparse.Namespace) -> None:
    from minisuperb.report.build import build_report  # matplotlib and scipy: only this command needs them

    set_threads(args.threads)
    stats = json_object(args.stats, "--stats")
    summaries = json_object(args.feature_summaries, "--feature-summaries")
    _check_paths(stats, "--stats", '{"asr": "results/data/asr/stats.json"}')
    for model, paths in summaries.items():
        if not isinstance(paths, dict):
            raise MinisuperbError(f"--feature-summaries: the value of {model!r} must be an object "
                                  'of task -> summary path, e.g. {"fbank": {"asr": "results/features/fbank/asr.json"}}.')
        _check_paths(paths, f"--feature-summaries ({model})", '{"asr": "results/features/fbank/asr.json"}')
    outputs = build_report(args.results, args.training, stats, summaries,
                           report_settings(args.settings), args.output_dir, args.reference_dir)
    log.info("wrote %s", ", ".join(str(p) for p in outputs.values()))


def _check_paths(mapping: dict, option: str, example: str) -> None:
    """A JSON object of task -> file path (what the workflow passes)."""
    wrong = {task: path for task, path in mapping.items() if not isinstance(path, str) or not path}
    if wrong:
        raise MinisuperbError(f"{option}: {wrong} are not file paths; give task -> path, e.g. {example}.")


def run_paper_correlation(args: argparse.Namespace) -> None:
    from minisuperb.report import paper  # scipy: only this command and `report` need it

    table = paper.reproduce(args.reference_dir)
    with pd.option_context("display.width", 200, "display.precision", 4):
        print(table.to_string(index=False))
    print(f"\n{paper.FINDING}")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.output, index=False)


def run_published_studies(args: argparse.Namespace) -> None:
    from minisuperb.report import published_studies  # scipy and matplotlib: only this command and `report`
    from minisuperb.report.build import SET_TITLES
    from minisuperb.report.document import to_html, to_markdown

    set_threads(args.threads)
    settings = report_settings(args.settings)
    studies = published_studies.run(args.reference_dir, settings["bootstrap"], settings["seed"], settings["confidence"])
    out = Path(args.out_dir)
    figure_paths = published_studies.write_outputs(out, studies, [], SET_TITLES)
    sections = published_studies.sections(studies, figure_paths, SET_TITLES)
    (out / "published_studies.md").write_text(to_markdown(PUBLISHED_TITLE, sections, out))
    (out / "published_studies.html").write_text(to_html(PUBLISHED_TITLE, sections))
    print("\n".join(published_studies.subset_headlines(studies, SET_TITLES)))
    log.info("wrote %s, published_studies.md/.html and %s", published_studies.JSON_FILE,
             ", ".join(str(p) for p in figure_paths.values()))


PUBLISHED_TITLE = "MiniSUPERB studies on the published SUPERB tables"


def register(subparsers) -> None:
    parser = subparsers.add_parser("collect", help="metrics.json files -> results table (+ training table)")
    parser.add_argument("metrics", nargs="*", help="metrics.json files, or folders to search for them")
    parser.add_argument("--references", default="{}",
                        help='JSON {model: SUPERB table row name or null}, e.g. \'{"fbank": "FBANK"}\'')
    parser.add_argument("--output", required=True, help="results table (CSV): one row per run, seed and model")
    parser.add_argument("--training-output", required=True, help="training table (CSV): one row per job")
    parser.add_argument("--threads", type=int, default=1)
    parser.set_defaults(func=run_collect)

    parser = subparsers.add_parser("superb-score", help="SUPERB (or MiniSUPERB) score of a results table")
    parser.add_argument("table", help="CSV with an 'upstream' column and leaderboard metric columns")
    parser.add_argument("--set", required=True, choices=list(scoring.TASK_SETS),
                        help="task set: the SUPERB paper, public, hidden dev/test sets, or our four tasks")
    points = parser.add_mutually_exclusive_group()
    points.add_argument("--points", help="CSV metric,fbank,sota (default: config/reference/ official points)")
    points.add_argument("--run-points", metavar="BASELINE",
                        help="FBANK = the row of this upstream, SOTA = the best row per metric (per run and seed)")
    parser.add_argument("--output", required=True, help="CSV: upstream (and run columns), superb_score")
    parser.set_defaults(func=run_superb_score)

    parser = subparsers.add_parser("report", help="scores, correlation, cost, figures, report.md/.html")
    parser.add_argument("--results", required=True, help="results table from `collect`")
    parser.add_argument("--training", required=True, help="training table from `collect`")
    parser.add_argument("--stats", required=True,
                        help='JSON {task: its stats.json from `subset-stats`}, e.g. \'{"asr": "results/data/asr/stats.json"}\'')
    parser.add_argument("--feature-summaries", required=True,
                        help="JSON {model: {task: its extraction summary}}, e.g. "
                             '\'{"hubert": {"asr": "results/features/hubert/asr.json"}}\'')
    parser.add_argument("--settings", default="{}", help="the config's `report:` section as JSON")
    parser.add_argument("--reference-dir", default=str(scoring.REFERENCE_DIR), help="SUPERB reference tables")
    parser.add_argument("--output-dir", required=True, help="results/report")
    parser.add_argument("--threads", type=int, default=1)
    parser.set_defaults(func=run_report)

    parser = subparsers.add_parser(
        "paper-correlation", help="which SUPERB ranking gives the MiniSUPERB paper's Spearman 0.954 / 0.982")
    parser.add_argument("--reference-dir", default=str(scoring.REFERENCE_DIR), help="SUPERB reference tables")
    parser.add_argument("--output", help="also write the table as CSV")
    parser.set_defaults(func=run_paper_correlation)

    parser = subparsers.add_parser(
        "published-studies", help="task subsets and the predicted SUPERB score on the published SUPERB tables (no run)")
    parser.add_argument("--reference-dir", default=str(scoring.REFERENCE_DIR), help="SUPERB reference tables")
    parser.add_argument("--settings", default="{}",
                        help="the config's `report:` section as JSON (bootstrap, seed, confidence are read)")
    parser.add_argument("--out-dir", required=True, help="folder for published_studies.json/.md/.html and figures/")
    parser.add_argument("--threads", type=int, default=1)
    parser.set_defaults(func=run_published_studies)
