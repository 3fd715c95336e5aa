"""The install is reproducible: requirements.lock owns every version, the Makefile installs from it,
and the jobs' conda environment is derived from it."""

from __future__ import annotations

import importlib.metadata
import re
import runpy
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
conda_env = runpy.run_path(str(REPO / "envs" / "conda_env.py"))


def locked() -> dict[str, str]:
    pins = {}
    for line in conda_env["pins"](LOCK.read_text()):
        name, separator, version = line.partition("==")
        assert separator and version, f"requirements.lock: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = version
    return pins


def test_the_tests_run_exactly_the_locked_versions():
    for name, version in locked().items():
        installed = importlib.metadata.version(name)
        assert Version(installed) == Version(version), f"{name}: installed {installed}, requirements.lock pins {version}"


def test_the_lock_covers_every_dependency_the_project_declares():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    pins = locked()
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared in pyproject.toml but missing from requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside pyproject.toml's {requirement.specifier}"


def test_conda_environment_is_generated_from_the_lock():
    committed = (REPO / "envs" / "minisuperb.yaml").read_text()
    assert committed == conda_env["render"](LOCK.read_text()), "envs/minisuperb.yaml is stale: run `make lock`"


def test_makefile_installs_from_the_lock_only():
    makefile = (REPO / "Makefile").read_text()
    installs = re.findall(r"pip install (.*)", makefile)
    assert "--quiet --no-deps -r requirements.lock" in installs
    assert all("requirements.lock" in line or "--no-deps" in line for line in installs), installs
