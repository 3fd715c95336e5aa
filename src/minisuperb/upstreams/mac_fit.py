"""The MAC model of an upstream over utterance lengths, MACs(L) = a L + b L^2 (the conv front
end and dense layers linear in L, attention quadratic): `minisuperb.upstreams.macs` fits (a, b)
on the model; this module needs no model and no torch, so a feature view that copies every
utterance gets its MACs from the donor's fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minisuperb.corpora.audio import TARGET_RATE as SAMPLE_RATE


def macs_at_lengths(coefficients: Sequence[Sequence[float]], num_samples: Sequence[int]) -> dict:
    """MACs per audio second over utterances of `num_samples` samples, from the fitted (a, b)
    of MACs(L) = a L + b L^2 per counter (torch's flop counter, then thop)."""
    lengths = np.asarray(num_samples, dtype=np.float64)
    seconds = lengths.sum() / SAMPLE_RATE
    flop_counter, thop = ((a * lengths.sum() + b * np.square(lengths).sum()) / seconds for a, b in coefficients)
    return {"macs_per_second": int(flop_counter), "macs_per_second_thop": int(thop)}
