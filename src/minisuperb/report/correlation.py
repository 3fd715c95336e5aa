"""Rank correlation between two sets of scores over the models both score: scipy's Spearman rho
and Kendall tau-b, each with a p-value and, where it means something, a bootstrap interval.

The question the benchmark maintainer asks is "does the mini benchmark rank models like SUPERB?",
asked of a handful of models. Two things follow:
- The p-value comes from the exact null distribution wherever it can be had: scipy's exact
  Kendall distribution (no ties), else a permutation test that enumerates every ordering of the
  models (n! of them, up to `PERMUTATIONS`), else that many random orderings. With 4 models even
  perfect agreement has p = 2/24: that is what four models can show.
- A bootstrap over models collapses to [1, 1] whenever the rankings agree, since every resample
  of agreeing models agrees too: the percentile interval then claims certainty it does not have.
  So the interval is scipy's BCa bootstrap, computed only from `INTERVAL_MODELS` models on, and
  left out (with the reason) where BCa is undefined, e.g. when every resample gives the same value.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np
from scipy import stats

MIN_MODELS = 3  # below this a rank correlation says nothing: no row, no panel
INTERVAL_MODELS = 8  # below this a bootstrap interval over models means little: none is given
PERMUTATIONS = math.factorial(INTERVAL_MODELS)  # the null is enumerated exactly up to INTERVAL_MODELS models
METHODS = ("spearman", "kendall")
# Float noise would make identical rankings give different values, which BCa takes for spread.
DECIMALS = 12


def spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along `axis` (scipy's spearmanr is not vectorised over pairs of rows): the
    Pearson correlation of the average-tie ranks, which is its definition; NaN where a row is
    constant. Computed here rather than by scipy's pearsonr, whose p-values (unused) cost most of
    the time of a permutation test."""
    rx, ry = (stats.rankdata(v, axis=axis) for v in (x, y))
    rx, ry = (r - r.mean(axis=axis, keepdims=True) for r in (rx, ry))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(axis=axis) / np.sqrt((rx * rx).sum(axis=axis) * (ry * ry).sum(axis=axis))
    return np.round(np.clip(rho, -1.0, 1.0), DECIMALS)


def kendall(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Kendall's tau-b along `axis`; NaN where a row is constant."""
    return np.round(stats.kendalltau(x, y, axis=axis).statistic, DECIMALS)


def kendall_s(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Kendall's S (concordant minus discordant pairs) of 1-D `x` against each row of `y`. Permuting
    y keeps the tie counts, hence tau-b's denominator, so S orders the permutation null exactly as
    tau-b does; unlike scipy's kendalltau, which loops over rows, it is vectorised."""
    y = np.moveaxis(y, axis, -1)
    return (np.sign(x[:, None] - x[None, :]) * np.sign(y[..., :, None] - y[..., None, :])).sum(axis=(-2, -1)) / 2


STATISTICS = {"spearman": spearman, "kendall": kendall}
PERMUTATION_STATISTICS = {"spearman": spearman, "kendall": kendall_s}


def p_value(x: np.ndarray, y: np.ndarray, method: str, seed: int) -> tuple[float, str]:
    """Two-sided p-value of "no association" and how it was obtained."""
    ties = len(np.unique(x)) < len(x) or len(np.unique(y)) < len(y)
    if method == "kendall" and not ties:
        return float(stats.kendalltau(x, y, method="exact").pvalue), "exact (Kendall's null distribution)"
    # One sample under "pairings": scipy then permutes only y, so all n! orderings are the exact null.
    result = stats.permutation_test(
        (y,), lambda b, axis=-1: PERMUTATION_STATISTICS[method](x, b, axis=axis), permutation_type="pairings",
        vectorized=True, n_resamples=PERMUTATIONS, rng=np.random.default_rng(seed))
    orderings = math.factorial(len(x))
    how = (f"exact (all {orderings:,} orderings)" if orderings <= PERMUTATIONS
           else f"permutation ({PERMUTATIONS:,} random orderings)")
    return float(result.pvalue), how


def bca_interval(x: np.ndarray, y: np.ndarray, method: str, samples: int, seed: int,
                 confidence: float) -> tuple[float, float] | None:
    """scipy's BCa bootstrap interval over models; None where BCa is undefined (a degenerate
    bootstrap distribution, e.g. every resample ranks the models alike)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.bootstrap((x, y), STATISTICS[method], paired=True, vectorized=True, method="BCa",
                                 n_resamples=samples, confidence_level=confidence,
                                 rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return None if math.isnan(low) or math.isnan(high) else (float(low), float(high))


def compare(ours: Mapping[str, float], theirs: Mapping[str, float], samples: int, seed: int,
            confidence: float = 0.95) -> dict:
    """Spearman and Kendall between two {model: score} maps over the models both score.

    Models with a missing score on either side are left out. Per method: the value, its p-value
    (and how it was obtained), and the BCa interval, or None with the reason in `ci_note`. With
    fewer than MIN_MODELS models, or a side that scores every model alike, every method is None
    and `note` says why.
    """
    models = sorted(m for m in ours if m in theirs and finite(ours[m]) and finite(theirs[m]))
    result: dict = {"models": models, "n": len(models)}
    x = np.array([ours[m] for m in models], dtype=float)
    y = np.array([theirs[m] for m in models], dtype=float)
    if len(models) < MIN_MODELS:
        result["note"] = f"needs at least {MIN_MODELS} models in common, has {len(models)}"
    elif np.ptp(x) == 0 or np.ptp(y) == 0:
        result["note"] = "one side gives every model the same score: no ranking to correlate"
    if "note" in result:
        return result | dict.fromkeys(METHODS)
    for method in METHODS:
        p, how = p_value(x, y, method, seed)
        if len(models) < INTERVAL_MODELS:
            interval, why = None, f"fewer than {INTERVAL_MODELS} models: an interval would mean little"
        else:
            interval = bca_interval(x, y, method, samples, seed, confidence)
            why = None if interval else "BCa undefined: every bootstrap resample gives the same value"
        result[method] = {"value": float(STATISTICS[method](x, y)), "p_value": p, "p_method": how,
                          "ci": list(interval) if interval else None, "ci_note": why}
    return result


def discordant_pairs(ours: Mapping[str, float], theirs: Mapping[str, float]) -> list[tuple[str, str]]:
    """Pairs (a, b) of models both score that `ours` puts a above b and `theirs` b above a: the
    models that broke the order."""
    models = sorted(m for m in ours if m in theirs and finite(ours[m]) and finite(theirs[m]))
    return [(a, b) if ours[a] > ours[b] else (b, a)
            for i, a in enumerate(models) for b in models[i + 1:]
            if (ours[a] - ours[b]) * (theirs[a] - theirs[b]) < 0]


def finite(value) -> bool:
    """A score to rank by: not None, not NaN, not infinite."""
    return value is not None and math.isfinite(float(value))
