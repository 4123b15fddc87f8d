"""Mean and percentile-bootstrap interval on data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amg_bench.evaluation.aggregate import bootstrap_ci, summarize, summarize_metrics


def test_two_points_give_the_full_range():
    # resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)


def _binomial_quantile(n: int, p: float, q: float) -> int:
    total = 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if total >= q:
            return k
    return n


def test_zero_one_data_matches_the_exact_binomial_bootstrap():
    # the bootstrap mean of k ones among n values is Binomial(n, k/n) / n: its quantiles are exact
    n, k = 60, 21
    values = [1.0] * k + [0.0] * (n - k)
    low, high = bootstrap_ci(values, resamples=20_000)
    assert low == pytest.approx(_binomial_quantile(n, k / n, 0.025) / n, abs=1.01 / n)
    assert high == pytest.approx(_binomial_quantile(n, k / n, 0.975) / n, abs=1.01 / n)


def test_normal_data_matches_the_normal_approximation():
    values = np.random.default_rng(3).normal(10.0, 2.0, size=400)
    low, high = bootstrap_ci(values)
    half = 1.96 * values.std() / math.sqrt(values.size)
    assert (low + high) / 2 == pytest.approx(values.mean(), abs=0.1 * half)
    assert (high - low) / 2 == pytest.approx(half, rel=0.05)


def test_constant_and_single_values_have_a_point_interval():
    assert bootstrap_ci([33.3] * 7) == (33.3, 33.3)
    assert summarize([5.0]) == {"mean": 5.0, "ci95": [5.0, 5.0], "n": 1}


def test_fixed_seed_is_deterministic_and_the_seed_matters():
    values = np.random.default_rng(0).uniform(0, 100, size=25).tolist()
    assert bootstrap_ci(values) == bootstrap_ci(list(values))
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values, seed=0)


def test_wider_confidence_gives_a_wider_interval():
    values = np.random.default_rng(0).uniform(0, 100, size=25)
    low90, high90 = bootstrap_ci(values, confidence=0.90)
    low99, high99 = bootstrap_ci(values, confidence=0.99)
    assert low99 < low90 < values.mean() < high90 < high99


@pytest.mark.parametrize("values, message", [([], "at least one"), ([1.0, float("nan")], "finite")])
def test_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(values)


@pytest.mark.parametrize("kwargs, message", [({"confidence": 1.0}, "confidence"), ({"resamples": 0}, "resamples")])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ci([1.0, 2.0], **kwargs)


def test_summarize_metrics_uses_only_records_holding_the_key():
    records = [{"clip_id": "a", "m": 1.0, "k": 4.0}, {"clip_id": "b", "m": 3.0}, {"clip_id": "c", "m": None}]
    out = summarize_metrics(records, ["m", "k", "absent"], resamples=500)
    assert out["m"]["mean"] == 2.0 and out["m"]["n"] == 2
    assert out["k"] == {"mean": 4.0, "ci95": [4.0, 4.0], "n": 1}
    assert "absent" not in out
