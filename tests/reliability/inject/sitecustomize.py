"""Test-only fault injection for tests/reliability: SIGKILL a workflow job at a chosen call.

Put this folder on PYTHONPATH and set
    MINISUPERB_FAULT_KILL=<module>:<attribute>:<before|after|stall>:<n>
    MINISUPERB_FAULT_ARGV=<text>     (optional: only in processes whose command line contains it)
and the n-th call of `<module>.<attribute>` kills its own process with SIGKILL, before or after
the call runs: a `kill -9` at a point too short-lived to hit from outside (e.g. between writing a
file and renaming it into place). `stall` waits before the call instead, until the file
MINISUPERB_FAULT_RELEASE exists (at most 300 s): a job that is still running when the test needs
it to be. Nothing happens in any other process, or without the variable.
"""

import importlib.abc
import importlib.util
import os
import signal
import sys

_SPEC = os.environ.get("MINISUPERB_FAULT_KILL", "")


def _command_line() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return " ".join(getattr(sys, "argv", []))


def _die() -> None:
    sys.stderr.write(f"fault injection: SIGKILL at {_SPEC}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _stall() -> None:
    import time

    release = os.environ.get("MINISUPERB_FAULT_RELEASE", "")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (release and os.path.exists(release)):
        time.sleep(0.05)


def _patch(module, attribute: str, when: str, nth: int) -> None:
    original = getattr(module, attribute)
    calls = 0

    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth and when == "before":
            _die()
        if calls == nth and when == "stall":
            _stall()
        result = original(*args, **kwargs)
        if calls == nth and when == "after":
            _die()
        return result

    setattr(module, attribute, wrapper)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, attribute: str, when: str, nth: int):
        self.module, self.attribute, self.when, self.nth = module, attribute, when, nth

    def find_spec(self, name, path=None, target=None):
        if name != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module, self.attribute, self.when, self.nth)

        spec.loader.exec_module = exec_and_patch
        return spec


if _SPEC and os.environ.get("MINISUPERB_FAULT_ARGV", "") in _command_line():
    _module, _attribute, _when, _nth = _SPEC.split(":")
    if _module in sys.modules:
        _patch(sys.modules[_module], _attribute, _when, int(_nth))
    else:
        sys.meta_path.insert(0, _PatchOnImport(_module, _attribute, _when, int(_nth)))
