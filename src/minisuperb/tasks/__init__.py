"""The downstream tasks. `TASKS` maps a task name to its `DownstreamTask` subclass.

The task modules are imported on first use (`TASKS["se"]`), so that training one task does not
import the others' dependencies (PESQ/STOI for SE and SS).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from minisuperb.errors import MinisuperbError
from minisuperb.tasks.base import DownstreamTask

_TASK_CLASSES = {
    "asr": "minisuperb.tasks.asr:AsrTask",
    "sid": "minisuperb.tasks.sid:SidTask",
    "se": "minisuperb.tasks.se:SeTask",
    "ss": "minisuperb.tasks.ss:SsTask",
}


class _TaskRegistry(Mapping):
    def __getitem__(self, name: str) -> type[DownstreamTask]:
        if name not in _TASK_CLASSES:
            raise MinisuperbError(f"unknown task {name!r}; the tasks are {', '.join(_TASK_CLASSES)}.")
        module, class_name = _TASK_CLASSES[name].split(":")
        return getattr(importlib.import_module(module), class_name)

    def __contains__(self, name) -> bool:
        return name in _TASK_CLASSES

    def __iter__(self):
        return iter(_TASK_CLASSES)

    def __len__(self) -> int:
        return len(_TASK_CLASSES)


TASKS: Mapping[str, type[DownstreamTask]] = _TaskRegistry()
