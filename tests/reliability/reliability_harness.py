"""The machinery of the fault-injection suite (tests/reliability): a reduced demo workflow, one
finished run copied for every fault, snakemake runs, kills, snapshots and dry-run plans.

Every fault is checked for the same three things:
  (a) reported: a non-zero exit and a message that says what, where and how to fix it;
  (b) nothing lost: every file of the finished run is still there, byte for byte with its mtime,
      except the ones the fault itself damaged or the failed job owned, and no output was made
      from wrong data;
  (c) the rerun computes only what was lost: after the fix the dry-run plan is the plan before
      the fault plus the jobs of what was lost (and, where the rerun is run, only those ran and
      every other file keeps its mtime).

The finished run lives at one fixed path, `<base>/run`: manifests hold absolute audio paths, so
every copy must sit where the original did. Tests run one at a time (no xdist): each restores
`<base>/run` from the pristine copy first.
"""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from polling import wait_until
from reduced_demo import reduced_demo

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
PROFILE = REPO / "profiles" / "local"
BIN = Path(sys.executable).parent
SNAKEMAKE = BIN / "snakemake"
INJECT = Path(__file__).resolve().parent / "inject"
RESULTS = "results"

# The reduced demo (tests/reduced_demo.py): the whole run is demo_corpus -> prepare -> subsample
# -> subset_stats, 2 x extract (one feature view per model) -> 2 x train -> collect -> report (about a minute on 2 CPU cores,
# mostly starting torch). The SID corpus is written too, for the faults that add the SID task.
CONFIG = {
    **reduced_demo(),
    "extraction": {"device": "cpu", "threads": 1},
    "downstream": {"threads": 1, "device": "cpu", "workers": 0},
    # 40 steps, a checkpoint every 5: long enough to be killed between two checkpoints.
    "protocols": {"demo": {"asr": {"steps": 40, "eval_every": 20, "checkpoint_every": 5, "batch_size": 4},
                           "sid": {"steps": 20, "eval_every": 10, "checkpoint_every": 5}}},
    "report": {
        "mini_run": {"protocol": "demo", "sampling": "paper"},
        "points": "config", "metrics": ["ASR_cer"],
        "reference_points": {"ASR_cer": {"fbank": 100.0, "sota": 0.0}},
        "bootstrap": 20, "seed": 0,
    },
}
assert CONFIG["results"] == RESULTS
NEW_MODEL = ("mel", {"loader": "s3prl", "name": "mel", "reference": None})


def config_with(**changes) -> dict:
    """CONFIG with some changes: `new_model=True`, `train_seeds=[...]`, `sid=True`,
    `bootstrap=N`, `model_entry=(name, {key: value})`."""
    config = copy.deepcopy(CONFIG)
    if changes.pop("new_model", False):
        config["models"][NEW_MODEL[0]] = dict(NEW_MODEL[1])
    if "train_seeds" in changes:
        config["downstream"]["train_seeds"] = changes.pop("train_seeds")
    if changes.pop("sid", False):
        config["tasks"] = ["asr", "sid"]
        config["data"]["sid"] = {"root": f"{RESULTS}/data/corpus/demo/VoxCeleb1"}
        config["sampling"]["paper"]["sid"] = {"k": 2}
    if "bootstrap" in changes:
        config["report"]["bootstrap"] = changes.pop("bootstrap")
    if "model_entry" in changes:
        name, update = changes.pop("model_entry")
        config["models"][name].update(update)
    assert not changes, f"unknown changes {changes}"
    return config


# --- runs ------------------------------------------------------------------------------------


@dataclass
class Run:
    """A finished snakemake invocation."""

    returncode: int
    output: str
    seconds: float

    @property
    def finished_jobs(self) -> set[str]:
        return finished_jobs(self.output)


@functools.cache
def _no_scontrol() -> str:
    """A folder with an `scontrol` that fails at once. Snakemake imports every executor plugin at
    start-up, and the SLURM plugin runs `scontrol show config` then: where slurm-wlm is installed
    but no controller runs (a CI machine after the SLURM tests stopped theirs), that call takes
    9 s, for every snakemake command. These runs use the local profile: SLURM is not involved."""
    folder = Path(tempfile.mkdtemp(prefix="minisuperb-no-scontrol-"))
    stub = folder / "scontrol"
    stub.write_text("#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    atexit.register(shutil.rmtree, folder, True)
    return str(folder)


def environment(**extra: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MINISUPERB_FAULT_", "MINISUPERB_SLURM_"))}
    env["PATH"] = os.pathsep.join([str(BIN), _no_scontrol(), env.get("PATH", "")])
    env.update(extra)
    return env


def hold_env(argv: str, release: Path) -> dict:
    """The environment that holds the training job whose command line contains `argv` before
    its first checkpoint until the file `release` exists."""
    return {**kill_env("torch:save:stall:1", argv), "MINISUPERB_FAULT_RELEASE": str(release)}


def kill_env(spec: str, argv: str) -> dict:
    """The environment that makes the process whose command line contains `argv` SIGKILL
    itself at `spec` (module:attribute:before|after:n; see inject/sitecustomize.py)."""
    # In front of any PYTHONPATH already set (e.g. a checkout tested without installing it).
    python_path = os.pathsep.join(filter(None, [str(INJECT), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": python_path, "MINISUPERB_FAULT_KILL": spec, "MINISUPERB_FAULT_ARGV": argv}


class Workflow:
    """The workflow at `root` (a folder holding the config and `results/`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.results = self.root / RESULTS

    def write_config(self, config: dict) -> None:
        (self.root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def config(self) -> dict:
        return yaml.safe_load((self.root / "config.yaml").read_text())

    def command(self, *arguments: str, profile: bool = True) -> list[str]:
        """`snakemake` as a user runs it on one machine: the local profile, this config."""
        # Targets and options first: --configfile takes every value after it.
        return [str(SNAKEMAKE), *map(str, arguments), *(["--profile", str(PROFILE)] if profile else []),
                "--cores", "2", "--snakefile", str(SNAKEFILE), "--directory", str(self.root),
                "--configfile", str(self.root / "config.yaml")]

    def run(self, *arguments: str, env: dict | None = None, timeout: float = 420, profile: bool = True) -> Run:
        started = time.monotonic()
        done = subprocess.run(self.command(*arguments, profile=profile), cwd=self.root,
                              env=environment(**(env or {})), capture_output=True, text=True, timeout=timeout)
        return Run(done.returncode, done.stdout + done.stderr, time.monotonic() - started)

    def start(self, *arguments: str, env: dict | None = None, log_name: str = "snakemake.out") -> Started:
        """Start snakemake in its own process group (its jobs run in that group too)."""
        log_path = self.root / log_name
        handle = open(log_path, "w")
        process = subprocess.Popen(self.command(*arguments), cwd=self.root, env=environment(**(env or {})),
                                   stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        return Started(process, handle, log_path, time.monotonic())

    def plan(self, config: dict | None = None, targets: list[str] | None = None) -> set[str]:
        """The jobs `snakemake -n --rerun-incomplete` plans (as `rule[wildcards]`, without `all`)."""
        if config is not None:
            self.write_config(config)
        done = subprocess.run(self.command("-n", *(targets or [])), cwd=self.root, env=environment(),
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise AssertionError(f"dry run failed:\n{done.stdout}\n{done.stderr}")
        return {job for job in planned_jobs(done.stdout + done.stderr) if not job.startswith("all[")}

    def path(self, relative: str) -> Path:
        return self.root / relative


@dataclass
class Started:
    process: subprocess.Popen
    handle: object
    log_path: Path
    started: float

    def wait(self, timeout: float = 420) -> Run:
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.handle.close()
        return Run(self.process.returncode, self.log_path.read_text(), time.monotonic() - self.started)

    def wait_for(self, condition, timeout: float, what: str, interval: float = 0.02):
        """`condition()`'s first true value; fails if Snakemake ends first (its output shown)."""
        return wait_until(condition, timeout, what, self.process, self.log_path, interval)

    def wait_for_job(self, *words: str, timeout: float = 120) -> psutil.Process:
        """The `minisuperb` process of this Snakemake's job whose command has `words`, once it runs."""
        return self.wait_for(lambda: job_process(self, *words), timeout, f"`minisuperb {' '.join(words)}` process")

    def kill_group(self) -> None:
        """`kill -9` of Snakemake and every job it runs (a power cut, a lost session)."""
        os.killpg(self.process.pid, signal.SIGKILL)

    def alive(self) -> bool:
        return self.process.poll() is None


JOB_BLOCK = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n?)*)", re.MULTILINE)


def _job_key(rule: str, body: str) -> tuple[str | None, str]:
    wildcards = re.search(r"^\s+wildcards: (.*)$", body, re.MULTILINE)
    jobid = re.search(r"^\s+jobid: (\d+)$", body, re.MULTILINE)
    pairs = sorted(part.strip() for part in wildcards.group(1).split(",")) if wildcards else []
    return (jobid.group(1) if jobid else None), f"{rule}[{','.join(pairs)}]"


def planned_jobs(output: str) -> set[str]:
    return {_job_key(rule, body)[1] for rule, body in JOB_BLOCK.findall(output)}


def finished_jobs(output: str) -> set[str]:
    """`rule[wildcards]` of every job a real run finished."""
    by_id = dict(_job_key(rule, body) for rule, body in JOB_BLOCK.findall(output))
    done = re.findall(r"Finished jobid: (\d+)", output)
    return {by_id[jobid] for jobid in done if jobid in by_id and not by_id[jobid].startswith("all[")}


def lock_refusal(output: str) -> str:
    """Snakemake's refusal of a folder another run holds (from its first line on); it must name
    the way out once no other run is left (`--unlock`)."""
    assert "cannot be locked" in output and "--unlock" in output, output[-3000:]
    assert "Nothing to be done" not in output
    return output[output.rindex("\n", 0, output.index("cannot be locked")) + 1:]


def rerun_only(workflow: Workflow, jobs: set[str], allowed: tuple[str, ...], *targets: str) -> Run:
    """(c) where the rerun is run: snakemake (on `targets`) succeeds, runs exactly `jobs`, and
    every file outside the `allowed` path prefixes keeps its bytes and mtime."""
    finished = snapshot(workflow.root)
    rerun = workflow.run(*targets)
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.finished_jobs == set(jobs), rerun.output[-3000:]
    changed = compare(finished, snapshot(workflow.root)).unexpected(allowed=allowed)
    assert changed == [], f"the rerun touched files of finished jobs: {changed}"
    return rerun


def job(rule: str, **wildcards) -> str:
    return f"{rule}[{','.join(sorted(f'{key}={value}' for key, value in wildcards.items()))}]"


def extract_job(model: str, task: str = "asr", sampling: str = "paper", seed: int = 42) -> str:
    """The extraction job of one feature view (model, task, sampling, seed)."""
    return job("extract", model=model, task=task, sampling=sampling, seed=seed)


def train_job(model: str, task: str = "asr", train_seed: int = 1337) -> str:
    return job("train", protocol="demo", sampling="paper", seed=42, train_seed=train_seed, model=model, task=task)


REPORT_JOBS = {job("collect"), job("report")}


def feature_view(model: str, task: str = "asr", sampling: str = "paper", seed: int = 42) -> str:
    """A feature view's path less its suffix: `<view>.zarr` is the store (a link to its version
    folder `<view>.zarr.v-<id>`), `<view>.json` its summary."""
    return f"{model}/{task}/{sampling}/seed{seed}"


def feature_paths(model: str, task: str = "asr", sampling: str = "paper", seed: int = 42) -> tuple[str, str]:
    view = f"{RESULTS}/features/{feature_view(model, task, sampling, seed)}"
    return f"{view}.zarr", f"{view}.json"


def extract_log(model: str, task: str = "asr", sampling: str = "paper", seed: int = 42) -> str:
    """The extraction job's log, relative to `results/logs`."""
    return f"features/extract/{feature_view(model, task, sampling, seed)}.log"


def train_dir(model: str, task: str = "asr", train_seed: int = 1337) -> str:
    return f"{RESULTS}/downstream/demo/paper/seed42/train{train_seed}/{model}/{task}"


# --- processes -------------------------------------------------------------------------------


def job_process(started: Started, *words: str) -> psutil.Process | None:
    """The `minisuperb` process (not its shell) of a job of this Snakemake, by command words."""
    try:
        children = psutil.Process(started.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            command = child.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        if any(part.endswith("minisuperb") for part in command[:2]) and all(word in command for word in words):
            return child
    return None


def kill_9(process: psutil.Process) -> None:
    try:
        process.send_signal(signal.SIGKILL)
    except psutil.NoSuchProcess:
        pass


# --- files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    digest: str


def snapshot(root: Path, under: str = RESULTS) -> dict[str, FileState]:
    """Every file under `root/under`: size, mtime and sha256 (the whole run is a few MB), and
    every symbolic link (a feature view's store is a link to its version folder): its target."""
    states = {}
    for directory, folders, files in os.walk(root / under):
        for name in folders + files:
            path = Path(directory, name)
            if path.is_symlink():
                states[path.relative_to(root).as_posix()] = FileState(0, 0, f"-> {os.readlink(path)}")
                continue
            if name in folders:
                continue
            try:
                stat = path.stat()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except (FileNotFoundError, PermissionError):
                continue
            states[path.relative_to(root).as_posix()] = FileState(stat.st_size, stat.st_mtime_ns, digest)
    return states


@dataclass
class Difference:
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # content or mtime
    added: list[str] = field(default_factory=list)

    def unexpected(self, allowed: tuple[str, ...] = ()) -> list[str]:
        """Removed or changed files outside the `allowed` path prefixes (logs always allowed)."""
        allowed = (f"{RESULTS}/logs/", *allowed)
        return sorted(path for path in self.removed + self.changed if not path.startswith(allowed))


def compare(before: dict[str, FileState], after: dict[str, FileState]) -> Difference:
    return Difference(
        removed=sorted(set(before) - set(after)),
        changed=sorted(path for path in set(before) & set(after) if before[path] != after[path]),
        added=sorted(set(after) - set(before)),
    )


def restore(pristine: Path, run_dir: Path) -> Workflow:
    """`run_dir` becomes a copy of the finished run (mtimes kept), at the path it was made at."""
    unmount_under(run_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    shutil.copytree(pristine, run_dir, symlinks=True)
    return Workflow(run_dir)


# --- a small file system that fills up ---------------------------------------------------------


def mounts_under(path: Path) -> list[str]:
    prefix = str(Path(path).resolve())
    points = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_under(path: Path) -> None:
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def mount_tmpfs(point: Path, size: str = "2m") -> str | None:
    """Mount a tmpfs of `size` at `point` (keeping what was there: copied in, mtimes kept).
    Returns None, or why it cannot be done here (not root, mount refused)."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    point.mkdir(parents=True, exist_ok=True)
    keep = point.with_name(point.name + ".before-mount")
    shutil.copytree(point, keep, symlinks=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(keep)
        return f"mount -t tmpfs failed: {done.stderr.strip()}"
    shutil.copytree(keep, point, symlinks=True, dirs_exist_ok=True)
    shutil.copystat(keep, point)
    shutil.rmtree(keep)
    return None


def fill(point: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system of `point` until about `leave_bytes` are free (a filler file)."""
    filler = point / ".filler"
    free = shutil.disk_usage(point).free
    with open(filler, "ab") as handle:
        remaining = max(0, free - leave_bytes)
        block = b"\0" * (1 << 16)
        try:
            while remaining > 0:
                handle.write(block[: min(len(block), remaining)])
                remaining -= len(block)
            handle.flush()
        except OSError:
            pass
    return filler


# --- messages --------------------------------------------------------------------------------


def job_log(workflow: Workflow, relative: str) -> str:
    path = workflow.results / "logs" / relative
    return path.read_text(errors="replace") if path.exists() else ""


def clear_error(log: str, command: str) -> str:
    """The `minisuperb <command>: error:` line(s) of a job log; fails on a traceback."""
    assert "Traceback (most recent call last)" not in log, f"the job died with a traceback:\n{log[-3000:]}"
    match = re.search(rf"^minisuperb {re.escape(command)}: error: .*", log, re.MULTILINE | re.DOTALL)
    assert match, f"no 'minisuperb {command}: error:' in the job log:\n{log[-3000:]}"
    return match.group(0).strip()


def excerpt(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
