"""Time Snakemake's planning at scale: 50 models x 4 tasks x 3 seeds x 2 runs (~1,440 jobs).

Two cases, each timed `--repeat` times with the real command line (`snakemake -n -q`) in a
scratch folder, wall and CPU seconds of the child process:
- plan: an empty results folder (every job planned);
- add one model: after a complete run of the 50 models (made without computing anything,
  `tests/snakemake_api.complete_run`), the config gains a 51st model.
`--profile FILE` also writes the top of a cProfile of one in-process dry run; `--baseline DIR`
also times the plan of another checkout of the workflow (e.g. `git worktree add /tmp/old <commit>`)
in the same run, its package taken from DIR/src.

    .venv/bin/python bench/bench_plan.py --models 50 --repeat 3 --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from snakemake_api import complete_run, dry_run  # noqa: E402  (a test helper, shared on purpose)

SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def scale_config(models: int, seeds: int) -> dict:
    """The demo config with `models` weight-free s3prl models and `seeds` sampling seeds."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["models"] = {f"model{index:03d}": {"loader": "s3prl", "name": "fbank", "reference": None} for index in range(models)}
    config["sampling"]["seeds"] = list(range(42, 42 + seeds))
    return config


def timed_dry_run(workdir: Path, config: dict, workflow: Path = REPO) -> dict:
    path = workdir / "bench_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [SNAKEMAKE, "-n", "-q", "--cores", "1", "-s", workflow / "Snakefile", "--configfile", path, "-d", workdir],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(workflow / "src")},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode:
        raise SystemExit(f"snakemake -n failed:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="write the top of a cProfile of one dry run here")
    parser.add_argument("--baseline", type=Path, help="another checkout of the workflow to time the plan of")
    args = parser.parse_args()

    config = scale_config(args.models, args.seeds)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        empty, finished = scratch / "empty", scratch / "finished"
        empty.mkdir()
        finished.mkdir()
        jobs = len(dry_run(empty, config))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(dry_run, empty, config)
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
            args.profile.write_text(text.getvalue())
        plan, baseline = [], []
        for _ in range(args.repeat):  # interleaved, so that both see the same machine load
            plan.append(timed_dry_run(empty, config))
            if args.baseline:
                baseline.append(timed_dry_run(empty, config, args.baseline.resolve()))

        complete_run(finished, config)
        grown = copy.deepcopy(config)
        grown["models"]["new_model"] = {"loader": "s3prl", "name": "mfcc", "reference": None}
        added = len(dry_run(finished, grown))
        add_one = [timed_dry_run(finished, grown) for _ in range(args.repeat)]

    print(json.dumps({
        "models": args.models, "seeds": args.seeds, "jobs_planned": jobs, "jobs_after_adding_one_model": added,
        "plan": plan, "baseline_plan": baseline, "add_one_model": add_one,
    }, indent=1))


if __name__ == "__main__":
    main()
