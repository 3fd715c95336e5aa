"""The `minisuperb` command line. Every Snakemake rule calls one of these sub-commands.

Each stage module owns its sub-commands: it exposes `register(subparsers)`, which adds them and
sets `func` on each parser. This file only wires the stages together, so stages never edit it
to add a command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from minisuperb.errors import MinisuperbError

# Modules that contribute sub-commands, in the order of the DAG.
STAGE_MODULES = (
    "minisuperb.corpora.commands",
    "minisuperb.upstreams.commands",
    "minisuperb.train",
    "minisuperb.report.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minisuperb", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGE_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
