"""The downstream tasks. `TASKS` maps a task name to its `DownstreamTask` subclass.

The names and classes come from `minisuperb.catalog` (`Task.head`, "module:Class" in this
package). The task modules are imported on first use (`TASKS["se"]`), so that training one task
does not import the others' dependencies (PESQ/STOI for SE and SS).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from minisuperb import catalog
from minisuperb.downstream.tasks.base import DownstreamTask
from minisuperb.errors import MinisuperbError


class _TaskRegistry(Mapping):
    def __getitem__(self, name: str) -> type[DownstreamTask]:
        if name not in catalog.TASKS:
            raise MinisuperbError(f"unknown task {name!r}; the tasks are {', '.join(catalog.TASK_NAMES)}.")
        module, class_name = catalog.TASKS[name].head.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), class_name)

    def __contains__(self, name) -> bool:
        return name in catalog.TASKS

    def __iter__(self):
        return iter(catalog.TASK_NAMES)

    def __len__(self) -> int:
        return len(catalog.TASK_NAMES)


TASKS: Mapping[str, type[DownstreamTask]] = _TaskRegistry()
