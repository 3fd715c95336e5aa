"""Process-level settings every job applies before heavy work."""

from __future__ import annotations

import os
import sys

from minisuperb.errors import MinisuperbError


def set_threads(threads: int) -> None:
    """Bound torch and BLAS to the threads Snakemake gave this job, so `snakemake -j4` on two
    cores never runs four jobs that each spawn a full thread pool.

    The environment variables bind libraries loaded after this call; torch, when already
    imported, is bound directly. Jobs that never use torch do not pay for importing it.
    """
    threads = max(1, int(threads))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set once in this process
            pass


def resolve_device(name: str) -> str:
    """`auto` -> cuda when torch sees a GPU, else cpu; an explicit cuda without a GPU is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(name)
    except (RuntimeError, ValueError) as error:
        raise MinisuperbError(f"--device {name!r} is not a device torch knows ({error}); use auto, cpu, "
                              "cuda or cuda:N.") from error
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MinisuperbError(f"--device {name} was asked for but torch sees no GPU; use --device auto or cpu.")
    return name
