"""Rank correlation on known rankings, and its bootstrap interval."""

import numpy as np
import pytest
from scipy import stats

from minisuperb.report.correlation import MIN_MODELS, bootstrap_interval, compare, kendall, spearman


def test_identical_and_reversed_rankings():
    ours = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    result = compare(ours, {m: 10 * v for m, v in ours.items()}, samples=200, seed=0)
    assert result["spearman"]["value"] == 1.0 and result["kendall"]["value"] == 1.0
    assert result["spearman"]["ci"] == [1.0, 1.0]
    reverse = compare(ours, {m: -v for m, v in ours.items()}, samples=200, seed=0)
    assert reverse["spearman"]["value"] == -1.0 and reverse["kendall"]["value"] == -1.0


def test_one_swap_gives_the_textbook_values():
    # ranks 1 2 3 4 5 vs 1 2 3 5 4: rho = 1 - 6*2/(5*24) = 0.9, tau = (9 - 1)/10 = 0.8
    ours = dict(zip("abcde", [1, 2, 3, 4, 5]))
    theirs = dict(zip("abcde", [1, 2, 3, 5, 4]))
    result = compare(ours, theirs, samples=500, seed=0)
    assert result["spearman"]["value"] == pytest.approx(0.9)
    assert result["kendall"]["value"] == pytest.approx(0.8)
    low, high = result["spearman"]["ci"]
    assert low <= 0.9 <= high and high <= 1.0


def test_vectorised_correlations_match_scipy_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(100):
        x, y = rng.integers(0, 4, size=(2, 7)).astype(float)
        for ours, reference in ((spearman, stats.spearmanr), (kendall, stats.kendalltau)):
            expected = reference(x, y).statistic
            value = float(ours(x, y))
            assert (np.isnan(expected) and np.isnan(value)) or value == pytest.approx(expected)


def test_only_models_in_both_with_scores_count():
    ours = {"a": 1, "b": 2, "c": 3, "d": 4, "new": 5}
    theirs = {"a": 1, "b": 2, "c": 3, "d": float("nan"), "other": 9}
    result = compare(ours, theirs, samples=50, seed=0)
    assert result["models"] == ["a", "b", "c"] and result["n"] == 3


def test_too_few_models_is_reported_not_fatal():
    result = compare({"a": 1, "b": 2}, {"a": 1, "b": 2}, samples=50, seed=0)
    assert result["spearman"] is None and str(MIN_MODELS) in result["note"]


def test_bootstrap_is_deterministic_and_narrows_with_agreement():
    x = np.arange(12, dtype=float)
    noisy = x + np.random.default_rng(0).normal(0, 4, size=12)
    assert bootstrap_interval(x, noisy, "spearman", 300, seed=7) == bootstrap_interval(x, noisy, "spearman", 300, seed=7)
    low_noisy, high_noisy, _ = bootstrap_interval(x, noisy, "spearman", 300, seed=7)
    low_exact, high_exact, _ = bootstrap_interval(x, x, "spearman", 300, seed=7)
    assert (low_exact, high_exact) == (1.0, 1.0)
    assert low_noisy < 1.0
