"""Dry runs of the repository's Snakefile through Snakemake's Python API (no subprocess).

    from snakemake_api import dry_run
    jobs = dry_run(tmp_path, config, targets=["data"])
    assert "prepare" in {job.rule for job in jobs}

`complete_run(workdir, config)` makes a folder look like the aftermath of a complete run, without
computing anything; `run(workdir, config)` runs it for real. The config is written to `workdir/dry_run_config.yaml` and passed like `--configfile`; relative
paths in it (e.g. `results`) are relative to `workdir`, where nothing of the repository's own
`results/` is visible.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from snakemake.api import SnakemakeApi
from snakemake.settings.enums import Quietness
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

SNAKEFILE = Path(__file__).resolve().parents[1] / "Snakefile"


@dataclass(frozen=True)
class PlannedJob:
    rule: str
    wildcards: dict
    output: list
    params: dict


@contextmanager
def open_workflow(workdir: Path, config: dict, name: str = "dry_run_config.yaml", cores: int = 1):
    """The repository's workflow on `config` (written to `workdir/name`, passed like --configfile)."""
    config_path = workdir / name
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        yield api.workflow(
            resource_settings=ResourceSettings(cores=cores),
            config_settings=ConfigSettings(configfiles=[config_path]),
            snakefile=SNAKEFILE,
            workdir=workdir,
        )


def dry_run(workdir: str | Path, config: dict, targets: list[str] | None = None) -> list[PlannedJob]:
    """The jobs `snakemake -n [targets]` would run, sorted by rule and output."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with open_workflow(workdir, config) as workflow_api:
        dag_api = workflow_api.dag(DAGSettings(targets=frozenset(targets or ())))
        dag_api.execute_workflow(executor="dryrun")
        # The API has no public accessor for the planned jobs; the DAG is on the workflow object.
        jobs = workflow_api._workflow.dag.needrun_jobs(exclude_finished=False)
        planned = [
            PlannedJob(job.rule.name, dict(job.wildcards.items()), [str(path) for path in job.output], dict(job.params.items()))
            for job in jobs
        ]
    return sorted(planned, key=lambda job: (job.rule, job.output))


def run(workdir: Path, config: dict, cores: int = 2) -> None:
    """Run the workflow on `config` for real (`snakemake --cores 2`); jobs run the `minisuperb`
    command of this environment."""
    with open_workflow(Path(workdir).resolve(), config, "run_config.yaml", cores=cores) as workflow_api:
        workflow_api.dag(DAGSettings()).execute_workflow(executor="local")


def complete_run(workdir: Path, config: dict) -> None:
    """Make `workdir` look like the aftermath of a complete run of `config`.

    Snakemake's touch executor records every job's metadata (params, code, input set) as a real
    run does; then every output is created with modification times in DAG order.
    """
    with open_workflow(workdir, config, "complete_run_config.yaml") as workflow_api:
        dag_api = workflow_api.dag(DAGSettings())
        dag_api.execute_workflow(executor="touch")
        levels = [[path for job in level for path in job.output] for level in workflow_api._workflow.dag.toposorted()]
    start = time.time()
    for depth, outputs in enumerate(levels):
        for output in outputs:
            path = workdir / str(output)
            if output.is_directory:
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            os.utime(path, (start + depth, start + depth))  # each level newer than its inputs
