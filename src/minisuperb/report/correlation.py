"""Rank correlation between two sets of scores, with bootstrap confidence intervals over models.

The question the benchmark maintainer asks is "does the mini benchmark rank models like SUPERB?",
so each comparison is over the models both sides score; the interval resamples those models with
replacement (a percentile bootstrap), which says how much the answer depends on which models
happen to be in the comparison.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from scipy import stats

MIN_MODELS = 3  # a rank correlation over fewer models says nothing


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of `x` and `y` ([..., n]): the Pearson correlation of the
    average-tie ranks; NaN where a row is constant."""
    rx = stats.rankdata(x, axis=-1)
    ry = stats.rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (rx * ry).sum(axis=-1) / denominator, np.nan)


def kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of `x` and `y` ([..., n]) (ties handled as scipy does);
    NaN where a row is constant."""
    upper = np.triu_indices(x.shape[-1], k=1)
    dx = np.sign(x[..., :, None] - x[..., None, :])[..., upper[0], upper[1]]
    dy = np.sign(y[..., :, None] - y[..., None, :])[..., upper[0], upper[1]]
    untied_x = (dx != 0).sum(axis=-1)
    untied_y = (dy != 0).sum(axis=-1)
    denominator = np.sqrt(untied_x * untied_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (dx * dy).sum(axis=-1) / denominator, np.nan)


CORRELATIONS = {"spearman": spearman, "kendall": kendall}


def bootstrap_interval(x: np.ndarray, y: np.ndarray, method: str, samples: int, seed: int,
                       confidence: float = 0.95) -> tuple[float, float, int]:
    """Percentile interval of the correlation over `samples` resamplings of the models.

    Resamples in which one side is constant (its correlation is undefined) are left out; the
    count of valid resamples is returned with the interval.
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(x), size=(samples, len(x)))
    values = CORRELATIONS[method](x[picks], y[picks])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan, 0
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high), int(values.size)


def compare(ours: Mapping[str, float], theirs: Mapping[str, float], samples: int, seed: int,
            confidence: float = 0.95) -> dict:
    """Spearman and Kendall between two {model: score} maps over the models both score.

    Models with a NaN score on either side are left out. Returns the models used and, per method,
    the value and its bootstrap interval (None where fewer than MIN_MODELS models remain).
    """
    models = sorted(m for m in ours if m in theirs and finite(ours[m]) and finite(theirs[m]))
    result: dict = {"models": models, "n": len(models)}
    if len(models) < MIN_MODELS:
        result["note"] = f"needs at least {MIN_MODELS} models in common, has {len(models)}"
        for method in CORRELATIONS:
            result[method] = None
        return result
    x = np.array([ours[m] for m in models], dtype=float)
    y = np.array([theirs[m] for m in models], dtype=float)
    for method in CORRELATIONS:
        low, high, valid = bootstrap_interval(x, y, method, samples, seed, confidence)
        result[method] = {
            "value": _none_if_nan(float(CORRELATIONS[method](x, y))),
            "ci": [_none_if_nan(low), _none_if_nan(high)],
            "valid_resamples": valid,
        }
    return result


def finite(value) -> bool:
    """A score to rank by: not None, not NaN, not infinite."""
    return value is not None and math.isfinite(float(value))


def _none_if_nan(value: float):
    return None if math.isnan(value) else value
