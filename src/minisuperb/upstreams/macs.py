"""MACs per second of audio of an upstream, counted two ways.

- thop (`thop.profile`) hooks nn.Modules: Conv, Linear, LSTM/GRU, norms and pooling layers; it does
  not see functional ops such as attention's matmuls (`scaled_dot_product_attention`) or
  torchaudio's kaldi-compliance fbank/MFCC (FFT, mel matmul), so s3prl's weight-free upstreams
  count ~0 MACs there.
- torch's `FlopCounterMode` counts the aten matmul and conv ops whatever module runs them (not
  elementwise ops, norms or FFTs, nor CPU attention kernels, which have no flop formula);
  MACs = FLOPs / 2.
At 1 s (50 frames) attention is a few % of a transformer's MACs, so both stay within ~10% of an
analytic count for transformer upstreams (tests/test_upstreams.py checks this).
Both run on one second of seeded noise; a disagreement above 20% is logged, not fatal.
"""

from __future__ import annotations

import logging

import torch
from torch.utils.flop_counter import FlopCounterMode

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE
from minisuperb.upstreams.base import Upstream

log = logging.getLogger(__name__)

DISAGREEMENT = 0.2
PROBE_SEED = 0


def count_macs(upstream: Upstream, device: torch.device | str = "cpu") -> dict:
    """{"macs_per_second": thop's count, "macs_per_second_flop_counter": torch's count}."""
    import thop

    generator = torch.Generator().manual_seed(PROBE_SEED)
    wav = (0.1 * torch.randn(1, SAMPLE_RATE, generator=generator)).to(device)
    lengths = torch.tensor([SAMPLE_RATE], device=device)
    # no_grad, not inference_mode: FlopCounterMode fails on weight-norm parametrised convs
    # (transformers' positional conv) under inference_mode.
    with torch.no_grad():
        thop_macs, _ = thop.profile(upstream, inputs=(wav, lengths), verbose=False)
        with FlopCounterMode(display=False) as counter:
            upstream(wav, lengths)
    result = {
        "macs_per_second": int(thop_macs),
        "macs_per_second_flop_counter": int(counter.get_total_flops() // 2),
    }
    if result["macs_per_second"] == 0:
        log.info("thop sees no module ops in this upstream (functional features); torch's flop "
                 "counter counts %.3g MACs per second", result["macs_per_second_flop_counter"])
    elif disagree(result["macs_per_second"], result["macs_per_second_flop_counter"]):
        log.warning(
            "MACs per audio second: thop counts %.3g, torch's flop counter %.3g (more than %d%% "
            "apart; see minisuperb.upstreams.macs for what each one counts)",
            result["macs_per_second"], result["macs_per_second_flop_counter"], DISAGREEMENT * 100,
        )
    return result


def disagree(a: float, b: float) -> bool:
    return abs(a - b) > DISAGREEMENT * max(abs(a), abs(b))
