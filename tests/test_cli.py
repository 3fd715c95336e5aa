"""The command table in cli.py matches what the stage modules register."""

import importlib

import pytest

from minisuperb import cli


def test_every_registered_command_is_in_the_table():
    parser = cli.build_parser()
    registered = set(parser._subparsers._group_actions[0].choices)
    assert registered == set(cli.COMMANDS)


@pytest.mark.parametrize("command", sorted(set(cli.COMMANDS)))
def test_a_command_builds_from_its_own_module(command):
    parser = cli.build_parser(command)
    assert command in parser._subparsers._group_actions[0].choices


def test_user_errors_exit_2_with_the_message(capsys, tmp_path):
    status = cli.main(["subsample", "--task", "sid", "--sampling", "paper", "--seed", "1",
                       "--settings", "{}", "--manifest-dir", str(tmp_path / "missing"),
                       "--out-dir", str(tmp_path / "out")])
    assert status == 2
    assert "minisuperb subsample: error:" in capsys.readouterr().err


def test_stage_modules_exist():
    for module in set(cli.COMMANDS.values()):
        assert hasattr(importlib.import_module(module), "register")
