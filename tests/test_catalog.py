"""Each task fact has one owner, minisuperb.catalog: the rules' wildcard constraints, every
sub-command's `--task` choices, the config schema and the stage registries all come from it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from minisuperb import catalog, cli
from minisuperb.config import load_schema
from snakemake_api import open_workflow

REPO = Path(__file__).resolve().parents[1]


def task_choices(command: str) -> list[str] | None:
    parser = cli.build_parser(command)
    subparser = parser._subparsers._group_actions[0].choices[command]
    options = {option for action in subparser._actions for option in action.option_strings}
    if "--task" not in options:
        return None
    (action,) = [action for action in subparser._actions if "--task" in action.option_strings]
    return list(action.choices)


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_task_option_offers_the_catalog_tasks(command):
    choices = task_choices(command)
    assert choices is None or choices == list(catalog.TASK_NAMES)


def test_the_schema_task_list_is_the_catalog():
    assert load_schema()["properties"]["tasks"]["items"]["enum"] == list(catalog.TASK_NAMES)


def test_the_workflow_constrains_task_the_catalog_way_for_every_rule(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    with open_workflow(tmp_path, config) as workflow_api:
        assert workflow_api._workflow.wildcard_constraints["task"] == catalog.TASK_PATTERN
    # No rule file constrains a wildcard itself: the Snakefile's global block owns them all.
    for path in (REPO / "rules").glob("*.smk"):
        assert "wildcard_constraints" not in path.read_text(), path.name


def test_every_task_resolves_to_its_reader_and_its_head():
    from minisuperb.downstream.tasks import TASKS as HEADS
    from minisuperb.downstream.tasks.base import DownstreamTask

    for name, task in catalog.TASKS.items():
        reader = getattr(importlib.import_module(f"minisuperb.corpora.{task.corpus}"), task.reader)
        assert callable(reader)
        assert issubclass(HEADS[name], DownstreamTask)


def test_leaderboard_columns_match_the_superb_tables():
    from minisuperb.report.scoring import METRIC_COLUMNS

    columns = {catalog.leaderboard_column(name, metric) for name, task in catalog.TASKS.items() for metric in task.metrics}
    assert columns == {"ASR_wer", "ASR_cer", "SID_acc", "SE_pesq", "SE_stoi", "SE_sisdri", "SS_sisdri"}
    assert columns <= set(METRIC_COLUMNS)
