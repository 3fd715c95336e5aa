"""The `minisuperb` command line. Every Snakemake rule calls one of these sub-commands.

Each stage module owns its sub-commands: it exposes `register(subparsers)`, which adds them and
sets `func` on each parser. This file only maps command names to stage modules. A job imports
only the module of its own command: importing every stage (torch, s3prl, transformers) costs
about ten seconds, which would dominate the many small data jobs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from minisuperb.errors import MinisuperbError

# Sub-command -> the stage module that registers it, in the order of the DAG.
COMMANDS = {
    "demo-corpus": "minisuperb.corpora.commands",
    "prepare": "minisuperb.corpora.commands",
    "subsample": "minisuperb.corpora.commands",
    "extract-list": "minisuperb.corpora.commands",
    "demo-model": "minisuperb.upstreams.commands",
    "extract": "minisuperb.upstreams.commands",
    "train": "minisuperb.downstream.commands",
    "collect": "minisuperb.report.commands",
    "superb-score": "minisuperb.report.commands",
    "report": "minisuperb.report.commands",
    "paper-correlation": "minisuperb.report.commands",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with the sub-commands of `command`'s stage, or of every stage when None."""
    parser = argparse.ArgumentParser(prog="minisuperb", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def _command_name(argv: list[str]) -> str | None:
    """The first argument that is not an option (the sub-command), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser(_command_name(argv)).parse_args(argv)


def run(argv: list[str]) -> None:
    """Run one sub-command in this process; a user error raises MinisuperbError."""
    args = parse(argv)
    args.func(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except MinisuperbError as error:
        print(f"minisuperb {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
