"""Mean and interval over sources on data whose answer is known, and the interval's coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amg_bench.evaluation.aggregate import source_interval, summarize, summarize_metrics
from amg_bench.results import MetricSummary

T_975 = {1: 12.706204736174707, 2: 4.302652729749464, 4: 2.7764451051977934}  # Student t quantiles (tables)


def test_two_sources_by_hand():
    # mean 2.5; residual sums per source -2 and 2; var = 2/1 * (4 + 4) / 4**2 = 1
    low, high = source_interval([1.0, 2.0, 3.0, 4.0], ["a", "a", "b", "b"])
    assert (low, high) == pytest.approx((2.5 - T_975[1], 2.5 + T_975[1]), abs=1e-12)


def test_unequal_sources_by_hand():
    values, sources = [10.0, 20.0, 30.0, 5.0, 15.0], ["s1", "s1", "s1", "s2", "s3"]
    mean = 16.0
    sums = [(10 - mean) + (20 - mean) + (30 - mean), 5 - mean, 15 - mean]  # 12, -11, -1
    variance = 3 / 2 * sum(s * s for s in sums) / 25
    low, high = source_interval(values, sources)
    half = T_975[2] * math.sqrt(variance)
    assert (low, high) == pytest.approx((mean - half, mean + half), abs=1e-12)


def test_clips_of_one_source_are_not_independent_samples():
    # 18 clips of one source: no interval at all (a clip-level bootstrap would claim +-0.1)
    values = np.random.default_rng(0).normal(50, 1, 18).tolist()
    assert source_interval(values, ["film"] * 18) is None
    assert summarize(values, ["film"] * 18).ci95 is None


def test_a_source_with_many_clips_does_not_shrink_the_interval():
    # five sources; duplicating every clip of each source 10 times leaves the interval unchanged
    rng = np.random.default_rng(1)
    means = rng.normal(0, 1, 5)
    values = [float(m) for m in means]
    sources = [f"s{i}" for i in range(5)]
    once = source_interval(values, sources)
    repeated = source_interval([v for v in values for _ in range(10)], [s for s in sources for _ in range(10)])
    assert repeated == pytest.approx(once, rel=1e-12)
    assert once == pytest.approx(
        (
            means.mean() - T_975[4] * means.std(ddof=1) / math.sqrt(5),
            means.mean() + T_975[4] * means.std(ddof=1) / math.sqrt(5),
        ),
        rel=1e-9,
    )


def _clustered(rng, sizes, source_sd=1.0, rho=0.9):
    values, sources = [], []
    for j, size in enumerate(sizes):
        shift = rng.normal(0.0, source_sd)
        noise = np.empty(size)
        noise[0] = rng.normal()
        for i in range(1, size):  # neighbouring windows share frames: strongly correlated
            noise[i] = rho * noise[i - 1] + math.sqrt(1 - rho**2) * rng.normal()
        values += (shift + noise).tolist()
        sources += [f"s{j}"] * size
    return values, sources


@pytest.mark.parametrize("num_sources", [3, 8])
def test_the_interval_covers_the_true_mean_at_small_source_counts(num_sources):
    rng = np.random.default_rng(num_sources)
    trials, hits = 400, 0
    for _ in range(trials):
        values, sources = _clustered(rng, rng.integers(5, 30, size=num_sources).tolist())
        low, high = source_interval(values, sources)
        hits += low <= 0.0 <= high
    coverage = hits / trials
    assert 0.90 <= coverage <= 0.99, coverage  # 95% nominal; a clip-level interval covers far less


def test_a_clip_level_interval_would_not_cover():
    # the reason for sources: treating the same clips as independent gives a far too narrow interval
    rng = np.random.default_rng(5)
    trials, hits = 200, 0
    for _ in range(trials):
        values, _ = _clustered(rng, [20] * 5)
        each_clip = source_interval(values, [str(i) for i in range(len(values))])
        hits += each_clip[0] <= 0.0 <= each_clip[1]
    assert hits / trials < 0.6


def test_mean_is_exact_and_order_independent():
    values = [0.1] * 10 + [1e16, -1e16]
    assert summarize(values, ["a"] * 12).mean == math.fsum(values) / 12
    assert summarize([1.0, 3.0], ["a", "b"]) == MetricSummary(2.0, summarize([1.0, 3.0], ["a", "b"]).ci95, 2, 2)


@pytest.mark.parametrize(
    "values, sources, message",
    [([], [], "at least one"), ([1.0, float("nan")], ["a", "b"], "finite"), ([1.0, 2.0], ["a"], "source ids")],
)
def test_bad_values(values, sources, message):
    with pytest.raises(ValueError, match=message):
        source_interval(values, sources)


def test_summarize_metrics_uses_only_records_holding_the_key():
    records = [
        {"clip_id": "a", "source_id": "x", "m": 1.0, "k": 4.0},
        {"clip_id": "b", "source_id": "y", "m": 3.0},
        {"clip_id": "c", "source_id": "y", "m": None},
    ]
    out = summarize_metrics(records, ["m", "k", "absent"])
    assert out["m"].mean == 2.0 and out["m"].n == 2 and out["m"].n_sources == 2 and out["m"].ci95 is not None
    assert out["k"] == MetricSummary(4.0, None, 1, 1)
    assert "absent" not in out
