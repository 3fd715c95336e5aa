"""Waiting on a running workflow, shared by the SLURM tests and the fault-injection suite."""

from __future__ import annotations

import time
from pathlib import Path


def wait_until(condition, timeout: float, what: str, process=None, log: Path | None = None, interval: float = 0.02):
    """Poll `condition()` until it returns something true, and return that. Fails after
    `timeout` s, or as soon as `process` (a `subprocess.Popen`, e.g. Snakemake) ends first; the
    failure then shows the end of `log`, its output."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            tail = Path(log).read_text(errors="replace")[-4000:] if log and Path(log).exists() else ""
            raise AssertionError(f"{Path(str(process.args[0])).name} ended before {what}:\n{tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout} s")
        time.sleep(interval)
