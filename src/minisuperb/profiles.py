"""Settings the Snakemake profiles (`profiles/local`, `profiles/slurm`) read from the environment.

The profiles are YTE templates (`__use_yte__: true`) that import these functions, so the
site-specific values (SLURM partition and account, GPUs) come from environment variables the
user sets, and a missing or malformed value stops Snakemake before any job is planned, with a
message saying which variable to set. Keeping the logic here, not in the YAML, makes it testable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from minisuperb.errors import MinisuperbError

SLURM_PROFILE = "profiles/slurm/config.yaml"
NVIDIA_GPU_DIR = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the driver manages


def required_setting(variable: str, what: str, how_to_find: str) -> str:
    """The value of environment variable `variable`; a clear error when it is unset or empty."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise MinisuperbError(
            f"{what} is not set. The SLURM profile ({SLURM_PROFILE}) takes it from the environment "
            f"variable {variable}: `export {variable}=<name>` ({how_to_find}), or write the value "
            f"into {SLURM_PROFILE} in place of the {variable} lookup."
        )
    return value


def optional_setting(variable: str) -> str | None:
    """The value of `variable`, or None (Snakemake then leaves the resource out)."""
    return os.environ.get(variable, "").strip() or None


def count_setting(variable: str, default: int) -> int:
    """A non-negative integer from `variable` (`default` when unset)."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise MinisuperbError(
            f"environment variable {variable}={raw!r} is not a count: set it to 0, 1, 2, ... "
            f"(used by the Snakemake profiles in profiles/; see 'Running at scale' in README.md)."
        )
    return value


def visible_gpus() -> int:
    """How many GPUs jobs on this machine can use: CUDA_VISIBLE_DEVICES when set (as CUDA reads
    it), else the GPUs the NVIDIA driver lists. Cheap: no torch import at profile load."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    if mask is not None:
        devices = [d.strip() for d in mask.split(",") if d.strip()]
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide all GPUs.
        usable = 0
        for device in devices:
            if device.startswith("-"):
                break
            usable += 1
        return usable
    return len(list(NVIDIA_GPU_DIR.iterdir())) if NVIDIA_GPU_DIR.is_dir() else 0


def local_gpu_budget(variable: str = "MINISUPERB_GPUS") -> int:
    """The `gpu` resource budget of a local run: `variable` if set, else the visible GPUs.

    Asking for more GPUs than the machine shows is not an error: the GPU jobs (`--device auto`)
    then run on CPU, still no more at a time than the budget; a warning says so.
    """
    found = visible_gpus()
    budget = count_setting(variable, default=found)
    if budget > found:
        print(
            f"minisuperb: warning: {variable}={budget} but this machine shows {found} GPU(s) "
            f"(CUDA_VISIBLE_DEVICES / {NVIDIA_GPU_DIR}): the GPU jobs (feature extraction, "
            f"training) will run on CPU, at most {budget} at a time. Unset {variable} to use the "
            "GPUs found.",
            file=sys.stderr,
        )
    return budget


def gpus_per_job(budget: int) -> int:
    """A GPU job takes one GPU when the run has any, else none (it runs on CPU)."""
    return 1 if budget > 0 else 0
