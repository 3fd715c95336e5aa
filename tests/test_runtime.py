"""Job runtime settings: device choice and thread bounds."""

import subprocess
import sys

import pytest
import torch

from minisuperb.errors import MinisuperbError
from minisuperb.runtime import resolve_device

NO_GPU = not torch.cuda.is_available()


@pytest.mark.skipif(not NO_GPU, reason="checks the machine-without-GPU behaviour")
def test_auto_picks_the_cpu_and_an_explicit_cuda_is_refused_without_a_gpu():
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(MinisuperbError, match="--device cuda:1 was asked for but torch sees no GPU"):
        resolve_device("cuda:1")


def test_set_threads_binds_torch_when_loaded_and_does_not_import_it_otherwise():
    code = (
        "import sys\n"
        "from minisuperb.runtime import set_threads\n"
        "set_threads(1)\n"
        "assert 'torch' not in sys.modules\n"
        "import torch\n"
        "print(torch.get_num_threads())\n"
        "set_threads(2)\n"
        "print(torch.get_num_threads())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.stdout.split() == ["1", "2"]
