"""Rank correlation on known rankings: scipy's values, exact p-values, and intervals only where
they mean something."""

import math

import numpy as np
import pytest
from scipy import stats

from minisuperb.report.correlation import (INTERVAL_MODELS, MIN_MODELS, compare, discordant_pairs, kendall,
                                           kendall_s, p_value, spearman)


def test_identical_and_reversed_rankings_of_four_models():
    ours = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    result = compare(ours, {m: 10 * v for m, v in ours.items()}, samples=200, seed=0)
    for method in ("spearman", "kendall"):
        assert result[method]["value"] == 1.0
        # Exact null: 2 of the 24 orderings are as extreme (both directions).
        assert result[method]["p_value"] == pytest.approx(2 / 24)
        # The percentile bootstrap gave [1, 1] here; below INTERVAL_MODELS there is no interval.
        assert result[method]["ci"] is None and str(INTERVAL_MODELS) in result[method]["ci_note"]
    assert "24 orderings" in result["spearman"]["p_method"]
    reverse = compare(ours, {m: -v for m, v in ours.items()}, samples=200, seed=0)
    assert reverse["spearman"]["value"] == -1.0 and reverse["kendall"]["value"] == -1.0


def test_one_swap_gives_the_textbook_values_and_exact_p():
    # ranks 1 2 3 4 5 vs 1 2 3 5 4: rho = 1 - 6*2/(5*24) = 0.9, tau = (9 - 1)/10 = 0.8; of the 120
    # orderings, 1 + 4 (one neighbour swap) reach |rho| >= 0.9 on each side: p = 10/120.
    ours = dict(zip("abcde", [1, 2, 3, 4, 5]))
    theirs = dict(zip("abcde", [1, 2, 3, 5, 4]))
    result = compare(ours, theirs, samples=500, seed=0)
    assert result["spearman"]["value"] == pytest.approx(0.9)
    assert result["kendall"]["value"] == pytest.approx(0.8)
    assert result["spearman"]["p_value"] == pytest.approx(10 / 120)
    assert result["kendall"]["p_value"] == pytest.approx(10 / 120)
    assert discordant_pairs(ours, theirs) == [("e", "d")]


def test_statistics_match_scipy_with_ties_row_by_row():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 4, size=(2, 50, 7)).astype(float)
    rho, tau = spearman(x, y), kendall(x, y)
    for row in range(50):
        for value, reference in ((rho[row], stats.spearmanr(x[row], y[row]).statistic),
                                 (tau[row], stats.kendalltau(x[row], y[row]).statistic)):
            assert (np.isnan(reference) and np.isnan(value)) or value == pytest.approx(reference)


def test_kendall_s_orders_the_permutation_null_as_tau_b_does():
    """With ties the p-value comes from permutations of Kendall's S, which only differs from tau-b
    by a denominator that permuting leaves alone: the same p-value as permuting tau-b itself."""
    rng = np.random.default_rng(0)
    x = np.array([1, 1, 2, 3, 3, 4, 5], dtype=float)
    y = x + rng.normal(0, 1.5, size=7)
    p, how = p_value(x, y, "kendall", seed=0)
    tau_b = stats.permutation_test((y,), lambda b, axis=-1: stats.kendalltau(x, b, axis=axis).statistic,
                                   permutation_type="pairings", n_resamples=math.factorial(7))
    assert p == pytest.approx(tau_b.pvalue) and how == "exact (all 5,040 orderings)"
    assert kendall_s(x, y[None, :])[0] == pytest.approx(
        sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i in range(7) for j in range(i + 1, 7)))


def test_nine_models_switch_to_random_orderings():
    x = np.arange(9, dtype=float)
    _, how = p_value(x, x[::-1].copy(), "spearman", seed=0)
    assert how.startswith("permutation (40,320 random")


def test_bca_interval_from_eight_models_on_and_none_when_every_resample_agrees():
    x = np.arange(12, dtype=float)
    noisy = x + np.random.default_rng(0).normal(0, 4, size=12)
    ours, theirs = dict(enumerate(x)), dict(enumerate(noisy))
    result = compare(ours, theirs, samples=500, seed=7)
    assert result == compare(ours, theirs, samples=500, seed=7)  # seeded
    for method in ("spearman", "kendall"):
        low, high = result[method]["ci"]
        assert low < result[method]["value"] < high <= 1.0
    perfect = compare(ours, {m: 2 * v for m, v in ours.items()}, samples=500, seed=7)
    # Every resample of agreeing models agrees: no spread, so BCa is undefined; p says it all.
    assert perfect["spearman"]["ci"] is None and "BCa undefined" in perfect["spearman"]["ci_note"]
    assert perfect["kendall"]["p_value"] < 1e-6


def test_only_models_in_both_with_scores_count():
    ours = {"a": 1, "b": 2, "c": 3, "d": 4, "new": 5}
    theirs = {"a": 1, "b": 2, "c": 3, "d": float("nan"), "other": 9}
    result = compare(ours, theirs, samples=50, seed=0)
    assert result["models"] == ["a", "b", "c"] and result["n"] == 3


def test_too_few_models_or_a_constant_side_is_reported_not_fatal():
    result = compare({"a": 1, "b": 2}, {"a": 1, "b": 2}, samples=50, seed=0)
    assert result["spearman"] is None and str(MIN_MODELS) in result["note"]
    flat = compare({"a": 1, "b": 2, "c": 3}, {"a": 5, "b": 5, "c": 5}, samples=50, seed=0)
    assert flat["kendall"] is None and "same score" in flat["note"]
