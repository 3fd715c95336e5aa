"""MACs per second of audio of an upstream over the utterances of an extraction job.

Counted two ways:
- torch's `FlopCounterMode` (`macs_per_second`, the one the report uses) counts the aten matmul,
  conv and attention ops whatever runs them, MACs = FLOPs / 2 (not elementwise ops, norms or
  FFTs). Torch has no formula for its CPU attention kernel, so one is added here: attention
  then counts on CPU as on GPU.
- thop (`macs_per_second_thop`, a cross-check) hooks nn.Modules: Conv, Linear, LSTM/GRU, norms
  and pooling layers. It does not see functional ops: attention's matmuls, the projections of
  `F.multi_head_attention_forward` (s3prl's wav2vec 2.0, HuBERT and WavLM), torchaudio's
  kaldi-compliance fbank/MFCC, so s3prl's weight-free upstreams count ~0 MACs there.
A disagreement above 20% is logged (information: thop misses attention).

Attention grows with the square of the length, so a count on 1 s of audio is low for real
utterances (~15% for a Base model at 15 s). Each counter runs on seeded noise of the job's mean
utterance length and of twice that; MACs(L) = a L + b L^2 through both probes then gives the
exact sum over the job's utterance lengths (the conv front end and dense layers are linear in L,
attention quadratic), divided by their audio seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.upstreams.base import Upstream
from minisuperb.upstreams.mac_fit import macs_at_lengths

log = logging.getLogger(__name__)

DISAGREEMENT = 0.2
PROBE_SEED = 0


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# The kernel `F.scaled_dot_product_attention` runs on CPU; its GPU kernels have formulas in torch.
CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


def count_macs(upstream: Upstream, num_samples: Sequence[int], device: torch.device | str = "cpu") -> dict:
    """{"macs_per_second": torch's count, "macs_per_second_thop": thop's count}, both per second
    of audio over utterances of `num_samples` samples each, the probe lengths in seconds, and
    the fitted coefficients (so that other lengths need no model: `macs_at_lengths`)."""
    mean = int(round(np.mean(num_samples)))
    probes = (mean, 2 * mean)
    counts = np.array([probe_macs(upstream, samples, device) for samples in probes], dtype=np.float64)
    # Per counter: a and b of MACs(L) = a L + b L^2 through the two probes.
    coefficients = np.linalg.solve(np.array([[n, n * n] for n in probes], dtype=np.float64), counts)
    result = {
        **macs_at_lengths(coefficients.T.tolist(), num_samples),
        "macs_coefficients": coefficients.T.tolist(),
        "macs_probe_seconds": [samples / SAMPLE_RATE for samples in probes],
    }
    if result["macs_per_second_thop"] == 0:
        log.info("thop sees no module ops in this upstream (functional features); torch's flop "
                 "counter counts %.3g MACs per second", result["macs_per_second"])
    elif disagree(result["macs_per_second"], result["macs_per_second_thop"]):
        # Expected for transformers at real lengths (thop misses attention): information only.
        log.info(
            "MACs per audio second: torch's flop counter counts %.3g, thop %.3g (more than %d%% "
            "apart; see minisuperb.upstreams.macs for what each one counts)",
            result["macs_per_second"], result["macs_per_second_thop"], DISAGREEMENT * 100,
        )
    return result


def probe_macs(upstream: Upstream, num_samples: int, device: torch.device | str = "cpu") -> tuple[int, int]:
    """(torch's flop counter, thop) MACs of one forward pass on `num_samples` of seeded noise."""
    import thop

    generator = torch.Generator().manual_seed(PROBE_SEED)
    wav = (0.1 * torch.randn(1, num_samples, generator=generator)).to(device)
    lengths = torch.tensor([num_samples], device=device)
    # no_grad, not inference_mode: FlopCounterMode fails on weight-norm parametrised convs
    # (transformers' positional conv) under inference_mode.
    with torch.no_grad():
        thop_macs, _ = thop.profile(upstream, inputs=(wav, lengths), verbose=False)
        with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as counter:
            upstream(wav, lengths)
    return counter.get_total_flops() // 2, int(thop_macs)


def disagree(a: float, b: float) -> bool:
    return abs(a - b) > DISAGREEMENT * max(abs(a), abs(b))
