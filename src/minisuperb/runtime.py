"""Process-level settings every job applies before heavy work."""

from __future__ import annotations

import os
import sys


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
