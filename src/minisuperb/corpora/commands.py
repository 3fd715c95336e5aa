"""Sub-commands of the data stage: `prepare` (corpus -> manifests), `subsample` (manifests ->
subset lists of one sampling and seed), `check-subset` (the lists against their record, before
any job reads them) and `subset-stats` (utterances and hours per split of the
manifests, of each subset and of their union, which is what feature extraction computes). `demo-corpus` comes from
`minisuperb.corpora.demo`.

They run no torch and no BLAS: only `prepare` takes `--threads`, for its header reads; the
others are single-threaded.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from pathlib import Path

from minisuperb.catalog import SPLITS, TASK_NAMES, TASKS
from minisuperb.config import json_object, seed, validate_section
from minisuperb.corpora import demo
from minisuperb.corpora.manifest import (
    read_ids, read_manifest, read_subset_list, require_file, select, subset_record, write_manifest, write_subset,
)
from minisuperb.corpora.sampling import hours, seconds, subsample, union
from minisuperb.errors import MinisuperbError
from minisuperb.files import write_json_atomic

log = logging.getLogger(__name__)


def read_corpus(task: str, settings: dict, threads: int = 1) -> dict[str, list[dict]]:
    """{split: records} of a task's corpus; `settings` is the config's `data.<task>` (defaults
    are filled in and the settings are checked against config/schema/data.schema.yaml)."""
    entry = TASKS[task]
    reader = getattr(importlib.import_module(f"minisuperb.corpora.{entry.corpus}"), entry.reader)
    return reader(validate_section(settings, ("data", task)), threads)


def read_manifests(folder: Path) -> dict[str, list[dict]]:
    return {split: read_manifest(folder / f"{split}.jsonl") for split in SPLITS}


def read_subset(folder: Path) -> dict[str, list[str]]:
    return {split: read_subset_list(folder, split) for split in SPLITS}


def run_prepare(args: argparse.Namespace) -> None:
    splits = read_corpus(args.task, json_object(args.settings, "--settings"), args.threads)
    for split in SPLITS:
        count = write_manifest(splits[split], Path(args.out_dir) / f"{split}.jsonl")
        log.info("%s %s: %d utterances, %.3f h", args.task, split, count, hours(splits[split]))


def read_id_lists(paper: dict, task: str) -> dict[str, list[str]]:
    """{split: ids} of the lists `sampling.paper.<task>.ids` names."""
    lists = {}
    for split, path in paper.get("ids", {}).items():
        key = f"sampling.paper.{task}.ids.{split}"
        ids = read_ids(require_file(path, f"id list {key}"))
        if not ids:
            raise MinisuperbError(f"id list {key} ({path}) is empty; list one utterance id per line.")
        lists[split] = ids
    return lists


def run_subsample(args: argparse.Namespace) -> None:
    paper = validate_section(json_object(args.settings, "--settings"), ("sampling", "paper", args.task))
    manifests = read_manifests(Path(args.manifest_dir))
    subsets = subsample(manifests, args.sampling, args.seed, paper, args.task, read_id_lists(paper, args.task))
    write_subset(subsets, args.out_dir)
    for split in SPLITS:
        log.info("%s %s seed %d %s: %d of %d utterances", args.task, args.sampling, args.seed, split,
                 len(subsets[split]), len(manifests[split]))


def totals(records: list[dict]) -> dict:
    # Seconds for exact sums downstream (the report's cost), hours for people.
    return {"utterances": len(records), "seconds": seconds(records), "hours": hours(records)}


def extract_stats(manifests: dict[str, list[dict]], subsets: dict[str, dict], needed: dict[str, list[str]]) -> dict:
    """Utterances, seconds and hours per split: of the manifests, of each subset, and of their union."""
    def stats_of(subset: dict[str, list[str]], name: str) -> dict:
        return {split: totals(select(manifests[split], subset[split], f"{name} {split}")) for split in SPLITS}

    return {
        "manifest": {split: totals(manifests[split]) for split in SPLITS},
        "subsets": {name: stats_of(subset, f"subset {name}") for name, subset in sorted(subsets.items())},
        "extract": stats_of(needed, "the extraction list"),
    }


def run_check_subset(args: argparse.Namespace) -> None:
    """Check a subset folder's lists against their record and write what was checked: the jobs
    that read the lists wait for this one, so a damaged list fails here, before Snakemake
    removes their finished outputs to run them again."""
    checked = subset_record(read_subset(Path(args.subset_dir)))
    write_json_atomic(args.out, checked)
    log.info("%s: %s", args.subset_dir, {split: entry["ids"] for split, entry in checked.items()})


def run_subset_stats(args: argparse.Namespace) -> None:
    manifests = read_manifests(Path(args.manifest_dir))
    # A subset folder is .../subsets/<sampling>/seed<seed>; its name in the stats is <sampling>/seed<seed>.
    subsets = {f"{Path(folder).parent.name}/{Path(folder).name}": read_subset(Path(folder)) for folder in args.subset_dirs}
    needed = union(list(subsets.values()))
    stats = extract_stats(manifests, subsets, needed)
    Path(args.stats).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info("%s: %s utterances to extract", args.stats, {split: len(needed[split]) for split in SPLITS})


def register(subparsers) -> None:
    demo.register(subparsers)

    prepare = subparsers.add_parser("prepare", help="read a corpus in its real layout and write the manifests")
    prepare.add_argument("--task", required=True, choices=TASK_NAMES)
    prepare.add_argument("--settings", required=True, help="JSON: the config's data.<task> section")
    prepare.add_argument("--out-dir", required=True, help="folder for train.jsonl, dev.jsonl, test.jsonl")
    prepare.add_argument("--threads", type=int, default=1, help="threads for the header reads (default 1)")
    prepare.set_defaults(func=run_prepare)

    sample = subparsers.add_parser("subsample", help="write the subset lists of one sampling and seed")
    sample.add_argument("--task", required=True, choices=TASK_NAMES)
    sample.add_argument("--sampling", required=True, help="paper, full, frac<F>, k<K> or n<N>")
    sample.add_argument("--seed", required=True, type=seed)
    sample.add_argument("--settings", required=True, help="JSON: the config's sampling.paper.<task> section")
    sample.add_argument("--manifest-dir", required=True, help="folder with the task's manifests")
    sample.add_argument("--out-dir", required=True, help="folder for train.txt, dev.txt, test.txt")
    sample.set_defaults(func=run_subsample)

    check = subparsers.add_parser("check-subset", help="check a subset folder's lists against their record")
    check.add_argument("--subset-dir", required=True, help="folder of train.txt, dev.txt, test.txt and lists.json")
    check.add_argument("--out", required=True, help="JSON to write: ids and sha256 per list, once checked")
    check.set_defaults(func=run_check_subset)

    stats = subparsers.add_parser(
        "subset-stats", help="utterances and hours of the manifests, each subset, and their union (what is extracted)"
    )
    stats.add_argument("--manifest-dir", required=True, help="folder with the task's manifests")
    stats.add_argument("--subset-dirs", required=True, nargs="+", help="subset folders .../<sampling>/seed<seed>")
    stats.add_argument("--stats", required=True, help="JSON to write: utterances and hours per split and subset")
    stats.set_defaults(func=run_subset_stats)
