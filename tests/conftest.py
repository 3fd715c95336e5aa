"""Shared test settings."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One torch thread in the test process: CI machines have two cores, and tests that spawn
    workflow jobs or SLURM daemons need the other one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
