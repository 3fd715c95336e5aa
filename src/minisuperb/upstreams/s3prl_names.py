"""s3prl's hub names, read without importing s3prl (which imports torch and takes seconds), so
that the workflow checks every model entry while it plans, before any job starts.

`s3prl.hub` star-imports each upstream's `hubconf.py`; its entries are those modules' public
functions, plus the names they re-export from another hubconf (e.g. `vq_apc_url`). Reading the
sources gives exactly `S3PRLUpstream.available_names()` less the helpers the star imports drag
along (`Path`, `FileLock`, ...), which are not upstreams (tests/test_upstreams.py compares them).
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
from pathlib import Path

from minisuperb.errors import MinisuperbError


@functools.cache
def hub_names() -> frozenset[str]:
    spec = importlib.util.find_spec("s3prl")
    if spec is None or not spec.submodule_search_locations:
        raise MinisuperbError("the s3prl package is not installed; run `make venv` (espnet-s3prl provides it).")
    package_parent = Path(spec.submodule_search_locations[0]).parent
    names: set[str] = set()
    for node in ast.parse((package_parent / "s3prl" / "hub.py").read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(".hubconf"):
            if node.names[0].name != "*":
                names.update(alias.asname or alias.name for alias in node.names)
                continue
            module = ast.parse((package_parent / (node.module.replace(".", "/") + ".py")).read_text())
            names.update(_public_entries(module))
    return frozenset(names)


def _public_entries(module: ast.Module) -> set[str]:
    names = {node.name for node in module.body if isinstance(node, ast.FunctionDef)}
    for node in module.body:  # re-exports from a sibling hubconf
        if isinstance(node, ast.ImportFrom) and node.level and (node.module or "").endswith("hubconf"):
            names.update(alias.asname or alias.name for alias in node.names)
    return {name for name in names if not name.startswith("_")}


def check_name(name: str | None, where: str) -> None:
    available = sorted(hub_names())
    if name in available:
        return
    close = difflib.get_close_matches(str(name), available, n=5, cutoff=0.6)
    hint = f"close matches: {', '.join(close)}" if close else "no close match"
    raise MinisuperbError(
        f"{where}: unknown s3prl upstream name {name!r} ({hint}). Set `name` to one of "
        "s3prl's hub names: python -c 'from s3prl.nn import S3PRLUpstream; "
        "print(S3PRLUpstream.available_names())'."
    )
