"""Fixtures of the fault-injection suite, and the record of each fault's outcome.

Every test here is one fault (parametrized). Its outcome (survived, not survived, skipped and
why), with what the test recorded on the way (the message the user saw, files lost, the jobs of
the rerun), is written to the JSON file named by $MINISUPERB_RELIABILITY_JSON when it is set
(`make reliability` sets it; tests/reliability/render.py turns it into RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from reliability_harness import CONFIG, Workflow, restore, snapshot, unmount_under

OUTCOMES_ENV = "MINISUPERB_RELIABILITY_JSON"
_STARTED = time.time()
_RUN_DIRS: list[str] = []  # written as <run> in the outcomes: they are temporary folders


# --- the finished run every fault starts from ------------------------------------------------


class FinishedRun:
    """One finished run of the reduced demo (made once per session), restored to `run_dir`
    (always the same path) for each fault, and the dry-run plans of configs on it."""

    def __init__(self, base: Path):
        self.base = base
        self.run_dir = base / "run"
        self.pristine = base / "pristine"
        self.files: dict = {}
        self.seconds = 0.0
        self._plans: dict[str, set[str]] = {}

    def make(self) -> None:
        workflow = Workflow(self.run_dir)
        self.run_dir.mkdir(parents=True)
        workflow.write_config(CONFIG)
        run = workflow.run()
        assert run.returncode == 0, f"the reduced demo run failed:\n{run.output[-6000:]}"
        self.seconds = run.seconds
        assert workflow.plan() == set(), "the finished run still plans jobs"
        self.files = snapshot(self.run_dir)
        os.rename(self.run_dir, self.pristine)

    def restore(self) -> Workflow:
        return restore(self.pristine, self.run_dir)

    def configure(self, workflow: Workflow, config: dict) -> set[str]:
        """Give `workflow` (a fault's copy) `config`; returns the plan of `config` before the
        fault, which the plan after the fault and its fix is compared with."""
        workflow.write_config(config)
        return self.plan(config)

    def plan(self, config: dict, targets: list[str] | None = None) -> set[str]:
        """The plan of `config` on the untouched finished run (cached: it never changes). Made
        in a copy of its own: a dry run reads no audio, so the path does not matter."""
        key = yaml.safe_dump([config, targets or []])
        if key not in self._plans:
            self._plans[key] = restore(self.pristine, self.base / "planning").plan(config, targets)
        return set(self._plans[key])


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> FinishedRun:
    finished = FinishedRun(tmp_path_factory.mktemp("reliability"))
    _RUN_DIRS.append(str(finished.run_dir))
    try:
        finished.make()
    except BaseException:
        unmount_under(finished.base)
        raise
    yield finished
    unmount_under(finished.base)


@pytest.fixture
def workflow(finished_run) -> Workflow:
    """A fresh copy of the finished run, at the path it was made at."""
    workflow = finished_run.restore()
    yield workflow
    unmount_under(workflow.root)


# --- outcomes ----------------------------------------------------------------------------------


@pytest.fixture
def outcome(request) -> dict:
    """What the test found, for RELIABILITY.md: `reported` (the message the user saw), `lost`
    (files of the finished run lost or changed), `rerun` (jobs planned or run after the fix),
    `notes`."""
    record = {}
    request.node.reliability_record = record
    return record


def _status(report, item) -> tuple[str, str]:
    if hasattr(report, "wasxfail"):
        return "not survived", report.wasxfail
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return "skipped", reason.removeprefix("Skipped: ")
    if report.passed:
        return "survived", ""
    text = report.longreprtext.strip().splitlines()
    errors = [line for line in text if line.startswith("E ")]
    return "failed", " ".join((errors or text)[-6:])[:1500]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    result = yield
    report = result.get_result()
    marker = item.get_closest_marker("reliability")
    path = os.environ.get(OUTCOMES_ENV)
    if marker is None or not path:
        return
    final = report.when == "call" or (report.when == "setup" and (report.skipped or report.failed))
    if not final:
        return
    status, reason = _status(report, item)
    callspec = getattr(item, "callspec", None)
    entry = {
        "category": marker.kwargs.get("category", ""),
        "fault": callspec.id if callspec else item.originalname,
        "test": item.nodeid,
        "status": status,
        "reason": reason,
        "seconds": round(report.duration, 1),
        **getattr(item, "reliability_record", {}),
    }
    entry = {key: _without_run_dir(value) for key, value in entry.items()}
    _update(Path(path), lambda data: data.setdefault("tests", {}).__setitem__(item.nodeid, entry))


def _without_run_dir(value):
    if isinstance(value, list):
        return [_without_run_dir(item) for item in value]
    if isinstance(value, str):
        for run_dir in _RUN_DIRS:
            value = value.replace(run_dir, "<run>")
    return value


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(OUTCOMES_ENV)
    if path and Path(path).exists():
        _update(Path(path), lambda data: data.update(wall_seconds=round(time.time() - _STARTED), cpus=os.cpu_count()))


def _update(path: Path, change) -> None:
    data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
    change(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
