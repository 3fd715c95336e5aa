"""The `minisuperb` command line. Every Snakemake rule calls one of these sub-commands.

Each stage module owns its sub-commands: it exposes `register(subparsers)`, which adds them and
sets `func` on each parser. This file only maps command names to stage modules. A job imports
only the module of its own command: importing every stage (torch, s3prl, transformers) costs
about ten seconds, which would dominate the many small data jobs.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys

from minisuperb.errors import MinisuperbError

# Sub-command -> the stage module that registers it, in the order of the DAG.
COMMANDS = {
    "demo-corpus": "minisuperb.corpora.commands",
    "prepare": "minisuperb.corpora.commands",
    "subsample": "minisuperb.corpora.commands",
    "check-subset": "minisuperb.corpora.commands",
    "subset-stats": "minisuperb.corpora.commands",
    "demo-model": "minisuperb.upstreams.commands",
    "extract": "minisuperb.upstreams.commands",
    "train": "minisuperb.downstream.commands",
    "collect": "minisuperb.report.commands",
    "superb-score": "minisuperb.report.commands",
    "report": "minisuperb.report.commands",
    "paper-correlation": "minisuperb.report.commands",
    "published-studies": "minisuperb.report.commands",
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
    empty = empty_argument(args)
    if empty:
        print(f"minisuperb {args.command}: error: argument {empty} is empty: give a file, folder or value.",
              file=sys.stderr)
        return 2
    try:
        args.func(args)
    except MinisuperbError as error:
        print(f"minisuperb {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the machine's, not the code's: a full disk, a read-only folder
        print(f"minisuperb {args.command}: error: {os_error_message(error, args)}", file=sys.stderr)
        return 2
    return 0


def empty_argument(args: argparse.Namespace) -> str | None:
    """The first argument given as an empty string (a path "" would mean the current folder,
    or nothing at all), as the command line spells it."""
    for dest, value in vars(args).items():
        if value == "" or (isinstance(value, list) and "" in value):
            return dest if dest in ("metrics", "table") else "--" + dest.replace("_", "-")
    return None


# A command's output options, where an OSError without a file name most likely happened.
OUTPUT_OPTIONS = ("output_dir", "out_dir", "out", "output", "summary")


def os_error_message(error: OSError, args: argparse.Namespace | None = None) -> str:
    """What, where and how to fix an OSError that reached the command line."""
    where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    if full and not where and args is not None:  # a write to an open file names none
        output = next((getattr(args, name) for name in OUTPUT_OPTIONS if getattr(args, name, None)), None)
        where = f"while writing to {output}" if output else ""
    what = f"{error.strerror or error} ({where})" if where else f"{error.strerror or error}"
    if full:
        fix = ("Free space on that file system (or point the config's `results` at a larger "
               "disk), then rerun: Snakemake removes this job's partial outputs and reruns only it.")
    else:
        fix = "Check that the path exists and that this user may read and write it, then rerun."
    return f"{what}. {fix}"


if __name__ == "__main__":
    sys.exit(main())
