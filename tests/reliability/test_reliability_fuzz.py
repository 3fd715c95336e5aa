"""A bounded fuzz pass (hypothesis) over config values and the sub-commands' arguments.

Config: the reduced demo config with one to three keys replaced by values of any type, deleted,
or joined by an unknown key, planned by Snakemake (a dry run through its Python API, which
validates the config and plans every job). Every refusal must be a MinisuperbError (what
Snakemake prints as the error); a schema error names the key.

Command line: each `minisuperb` sub-command, from arguments that work on the finished reduced
demo run, with one or two options replaced by odd values, dropped, or joined by an unknown one,
run in-process as the `minisuperb` script runs it (`cli.main`). Every outcome must be success,
or exit 2 with `minisuperb <command>: error:` (argparse's usage errors look the same), never a
traceback. Paths the fuzz makes are relative, inside a scratch folder (the current directory).

Examples are derandomized (the same every run) and bounded (max_examples), deadline None.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minisuperb import cli
from minisuperb.config import validate_config
from minisuperb.downstream.protocols import resolve_settings
from minisuperb.errors import MinisuperbError
from reliability_harness import CONFIG, REPO, RESULTS, feature_paths, train_dir
from snakemake_api import dry_run

pytestmark = pytest.mark.reliability(category="fuzz")

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Relative names only (no "/", ".", "~"): whatever a fuzzed command writes stays in the scratch
# folder, the current directory.
SAFE_TEXT = st.text(alphabet="abcXYZ09 _-{}[]:,\"é", max_size=10)
NUMBERS = st.sampled_from(["-1", "0", "1", "2", "8", "nan", "inf", "-inf", "1e-9", "-2.5", "3.5", "0x10"])
JSON_TEXT = st.sampled_from(['{}', '[]', 'null', '{', '"x"', '1', '{"a": 1}', '{"steps": -1}',
                             '{"loader": "s3prl"}', '{"name": "fbank"}', '{"root": 3}', '{"fraction": 2}'])
WORDS = st.sampled_from(["asr", "sid", "se", "ss", "paper", "full", "frac0.5", "k2", "n3", "frac", "k0",
                         "demo", "fbank", "mfcc", "cpu", "cuda", "cuda:1", "auto", "xyz", "", "public"])
VALUE = st.one_of(SAFE_TEXT, NUMBERS, JSON_TEXT, WORDS)


# --- the config ----------------------------------------------------------------------------------

CONFIG_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 1000), st.floats(allow_nan=True, allow_infinity=True),
    SAFE_TEXT, WORDS, st.lists(st.integers(-2, 50), max_size=3), st.lists(WORDS, max_size=3),
    st.dictionaries(WORDS, st.integers(-1, 5), max_size=2),
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _parent(config, path):
    node = config
    for part in path[:-1]:
        node = node[part]
    return node


def _mutate(draw, value) -> str:
    """Change one key or item of `value` (a dict, in place): replace its value, delete it, or add
    an unknown key beside it. Returns what was done."""
    path = draw(st.sampled_from([p for p in _paths(value) if p]))
    operation = draw(st.sampled_from(["replace", "replace", "delete", "unknown key"]))
    parent = _parent(value, path)
    if operation == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif operation == "unknown key" and isinstance(parent, dict):
        parent[draw(WORDS) + "_x"] = draw(CONFIG_VALUES)
    else:
        parent[path[-1]] = draw(CONFIG_VALUES)
    return f"{operation} {'.'.join(map(str, path))}"


@st.composite
def mutated_configs(draw):
    config = copy.deepcopy(CONFIG)
    changes = [_mutate(draw, config) for _ in range(draw(st.integers(1, 3)))]
    return config, changes


def _minisuperb_error(error: BaseException) -> MinisuperbError | None:
    seen = error
    while seen is not None:
        if isinstance(seen, MinisuperbError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def test_fuzz_config_values(tmp_path, outcome):
    checked = {"planned": 0, "refused": 0}

    @FUZZ
    @given(mutated_configs())
    def plan(case):
        config, changes = case
        try:
            dry_run(tmp_path, config)
        except Exception as error:  # noqa: BLE001 - the point is what kind it is
            clear = _minisuperb_error(error)
            assert clear is not None, f"{changes}: {type(error).__name__}: {error}"
            schema_error = str(clear).startswith("invalid configuration")
            assert not schema_error or "key '" in str(clear), f"{changes}: {clear}"
            checked["refused"] += 1
        else:
            checked["planned"] += 1

    plan()
    outcome["reported"] = (f"{sum(checked.values())} mutated configs: {checked['refused']} refused before any job "
                           f"with a MinisuperbError (a schema error names the key), {checked['planned']} planned")
    outcome["lost"] = []


# --- the command line ----------------------------------------------------------------------------


def _templates(run_results) -> dict[str, list[str]]:
    """Arguments with which each sub-command works on the finished run (relative outputs)."""
    r, asr = str(run_results), f"{run_results}/data/asr"
    presets_config = validate_config(copy.deepcopy(CONFIG))
    train_settings = resolve_settings("demo", "asr", presets_config["protocols"])
    report = dict(presets_config["report"])
    store, summary = (f"{run_results.parent}/{path}" for path in feature_paths("fbank"))
    metrics = [f"{run_results.parent}/{train_dir(model)}/metrics.json" for model in ("fbank", "mfcc")]
    demo = {"seed": 0, "asr": {"speakers": 1, "train": 1, "dev": 1, "test": 1},
            "sid": {"speakers": 2, "train": 1, "dev": 1, "test": 1},
            "se": {"train_speakers": 3, "test_speakers": 1, "utterances": 1},
            "ss": {"speakers": 2, "train": 1, "dev": 1, "test": 1}}
    return {
        "demo-corpus": ["--out", "corpus", "--settings", json.dumps(demo)],
        "prepare": ["--task", "asr", "--settings", json.dumps(CONFIG["data"]["asr"] | {"root": f"{r}/data/corpus/demo/LibriSpeech"}),
                    "--out-dir", "manifest", "--threads", "1"],
        "subsample": ["--task", "asr", "--sampling", "paper", "--seed", "42", "--settings", '{"fraction": 0.5}',
                      "--manifest-dir", f"{asr}/manifest", "--out-dir", "subsets"],
        "subset-stats": ["--manifest-dir", f"{asr}/manifest", "--subset-dirs", f"{asr}/subsets/paper/seed42",
                         "--stats", "stats.json"],
        "extract": ["--model", "fbank", "--model-settings", '{"loader": "s3prl", "name": "fbank"}', "--task", "asr",
                    "--manifest-dir", f"{asr}/manifest", "--subset-dir", f"{asr}/subsets/paper/seed42",
                    "--out", "paper/seed42.zarr",
                    "--summary", "fbank.json", "--threads", "1", "--batch-seconds", "16", "--device", "cpu"],
        "demo-model": ["--kind", "hubert", "--out", "model", "--seed", "0", "--layers", "1", "--dim", "32", "--threads", "1"],
        "train": ["--task", "asr", "--model", "fbank", "--store", store, "--store-summary", summary,
                  "--manifest-dir", f"{asr}/manifest", "--subset-dir", f"{asr}/subsets/paper/seed42",
                  "--protocol", "demo", "--sampling", "paper", "--settings", json.dumps(train_settings),
                  "--seed", "42", "--train-seed", "1", "--out-dir", "train", "--threads", "1", "--device", "cpu",
                  "--workers", "0", "--stop-after-steps", "2"],
        "collect": [*metrics, "--references", '{"fbank": "FBANK", "mfcc": null}', "--output", "results.csv",
                    "--training-output", "training.csv", "--threads", "1"],
        "superb-score": [str(REPO / "config" / "reference" / "superb_public.csv"), "--set", "public",
                         "--output", "scores.csv"],
        "report": ["--results", f"{r}/report/results.csv", "--training", f"{r}/report/training.csv",
                   "--stats", json.dumps({"asr": f"{asr}/stats.json"}),
                   "--feature-summaries", json.dumps({m: {"asr": f"{run_results.parent}/{feature_paths(m)[1]}"}
                                                      for m in CONFIG["models"]}),
                   "--settings", json.dumps(report | {"mini_run": CONFIG["runs"][0]}),
                   "--output-dir", "report", "--threads", "1"],
        "paper-correlation": ["--output", "paper.csv"],
    }


def _options(arguments: list[str]) -> list[int]:
    return [i for i, part in enumerate(arguments) if part.startswith("--")]


def _option_types(command: str) -> dict[str, object]:
    parser = cli.build_parser(command)._subparsers._group_actions[0].choices[command]
    return {action.option_strings[0]: action.type for action in parser._actions if action.option_strings}


JSON_OPTIONS = {"--settings", "--model-settings", "--references", "--stats", "--feature-summaries"}
SMALL_INTS = st.sampled_from(["-1", "0", "1", "2", "3"])


@st.composite
def mutated_json(draw, text):
    """The template's JSON with one key replaced, deleted or added (or, rarely, any text)."""
    try:
        value = json.loads(text)
    except ValueError:  # an earlier change made it text
        value = None
    if not isinstance(value, dict) or not value or draw(st.integers(0, 9)) == 0:
        return draw(VALUE)
    _mutate(draw, value)
    return json.dumps(value)


def _value_for(draw, option, current, types):
    """An odd value that still parses, mostly (argparse refuses the rest first)."""
    if option in JSON_OPTIONS and current is not None and draw(st.integers(0, 4)):
        return draw(mutated_json(current))
    kind = types.get(option)
    if kind is int and draw(st.integers(0, 3)):
        return draw(SMALL_INTS)
    if kind is float and draw(st.integers(0, 3)):
        return draw(NUMBERS)
    return draw(VALUE)


@st.composite
def mutated_commands(draw, templates):
    command = draw(st.sampled_from(sorted(templates)))
    arguments = list(templates[command])
    types = _option_types(command)
    changes = []
    for _ in range(draw(st.integers(1, 2))):
        options = _options(arguments)
        operation = draw(st.sampled_from(["value"] * 6 + ["drop", "unknown option", "positional"]))
        if operation == "value" and options:
            index = draw(st.sampled_from(options))
            has_value = index + 1 < len(arguments) and not arguments[index + 1].startswith("--")
            value = _value_for(draw, arguments[index], arguments[index + 1] if has_value else None, types)
            if has_value:
                arguments[index + 1] = value
            else:
                arguments.insert(index + 1, value)
            changes.append(f"{arguments[index]} {value!r}")
        elif operation == "drop" and options:
            index = draw(st.sampled_from(options))
            end = index + 1
            while end < len(arguments) and not arguments[end].startswith("--"):
                end += 1
            changes.append(f"drop {arguments[index]}")
            del arguments[index:end]
        elif operation == "positional":
            value = draw(VALUE)
            arguments.insert(0, value)
            changes.append(f"positional {value!r}")
        else:
            arguments += ["--" + draw(st.sampled_from(["bogus", "thread", "out-dirs"])), draw(VALUE)]
            changes.append(f"unknown {arguments[-2]}")
    return [command, *arguments], changes


@contextlib.contextmanager
def _process_state():
    """A command may set torch's threads and the BLAS variables: put them back afterwards."""
    import torch

    saved_env = {key: os.environ.get(key) for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_cli(argv: list[str], scratch: Path) -> tuple[int, str]:
    """`minisuperb ARGV` in this process, in a new empty folder under `scratch` (relative
    paths land there): its exit status and what it printed to stderr."""
    stderr = io.StringIO()
    folder = Path(tempfile.mkdtemp(dir=scratch))
    with contextlib.chdir(folder), contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()), \
            _process_state():
        try:
            status = cli.main(argv)
        except SystemExit as stop:  # argparse's usage errors
            status = stop.code if isinstance(stop.code, int) else 1
    shutil.rmtree(folder, ignore_errors=True)
    return status, stderr.getvalue()


def test_fuzz_command_line(finished_run, tmp_path, outcome):
    run_dir = finished_run.restore()  # the inputs (manifests name audio under this path)
    templates = _templates(run_dir.results)
    for command, arguments in templates.items():  # every template works as given
        if command in ("demo-corpus", "demo-model", "extract", "report"):
            continue  # the slow ones: covered by the workflow runs
        status, stderr = run_cli([command, *arguments], tmp_path)
        expected = 2 if command == "train" else 0  # --stop-after-steps: a simulated preemption
        assert status == expected, f"{command} {arguments}: {stderr}"
    counts = {"ok": 0, "refused": 0}

    @FUZZ
    @given(mutated_commands(templates))
    def call(case):
        argv, changes = case
        try:
            status, stderr = run_cli(argv, tmp_path)
        except Exception as error:  # noqa: BLE001 - a traceback is the failure looked for
            raise AssertionError(f"{argv[0]} {changes}: {type(error).__name__}: {error}") from error
        if status == 0:
            counts["ok"] += 1
            return
        assert status == 2, f"{argv[0]} {changes}: exit {status}: {stderr[-2000:]}"
        assert "Traceback" not in stderr, f"{argv[0]} {changes}: {stderr[-2000:]}"
        assert f"minisuperb {argv[0]}: error:" in stderr or "minisuperb: error:" in stderr, \
            f"{argv[0]} {changes}: {stderr[-2000:]}"
        counts["refused"] += 1

    call()
    outcome["reported"] = (f"{sum(counts.values())} mutated command lines over {len(templates)} sub-commands: "
                           f"{counts['refused']} refused with exit 2 and 'minisuperb <command>: error:', "
                           f"{counts['ok']} ran")
    outcome["lost"] = []
