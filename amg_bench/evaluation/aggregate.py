"""From per-clip values to the benchmark number: the mean and its 95% bootstrap interval.

Pure numpy, no IO. Percentile bootstrap: draw ``resamples`` samples of the ``n`` clip values
with replacement, take each sample's mean, and report the 2.5th and 97.5th percentiles of those
means (numpy's linear interpolation). The generator is seeded (PCG64, ``seed``) and the caller
passes values in a fixed order (the runner sorts clips by id), so the same clips always give the
same interval, however the run was sharded or resumed.

Hand-written because it is a few lines of numpy and scipy (``scipy.stats.bootstrap``) is not a
dependency of the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_BOOTSTRAP_SEED = 0


def bootstrap_ci(
    values: Sequence[float],
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean.

    Args:
        values: the per-clip values, in a fixed order (n >= 1, all finite).
        confidence: interval mass, in (0, 1).
        resamples: bootstrap samples (>= 1); resampling is done in blocks, memory stays small.
        seed: generator seed.

    Returns:
        ``(low, high)``; both equal the value when n == 1 or all values are equal.

    Raises:
        ValueError: no values, a non-finite value, or a bad ``confidence``/``resamples``.

    >>> bootstrap_ci([2.0, 2.0, 2.0])
    (2.0, 2.0)
    """
    data = _finite_array(values)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    rng = np.random.Generator(np.random.PCG64(seed))
    n = data.size
    block = max(1, (1 << 22) // n)  # about 32 MB of indices per block
    means = np.empty(resamples)
    for start in range(0, resamples, block):
        stop = min(start + block, resamples)
        means[start:stop] = data[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    # a mean of identical numbers can differ from them in the last bit; keep the interval within the data
    lowest, highest = float(data.min()), float(data.max())
    return min(max(float(low), lowest), highest), max(min(float(high), highest), lowest)


def summarize(values: Sequence[float], seed: int = DEFAULT_BOOTSTRAP_SEED, resamples: int = DEFAULT_RESAMPLES) -> dict:
    """``{"mean", "ci95": [low, high], "n"}`` of per-clip values (n >= 1).

    The mean is ``math.fsum(values) / n`` (a correctly rounded sum, independent of the order).

    Raises:
        ValueError: as :func:`bootstrap_ci`.

    >>> summarize([1.0, 3.0], resamples=1000)["mean"]
    2.0
    """
    data = _finite_array(values)
    low, high = bootstrap_ci(data, 0.95, resamples, seed)
    return {"mean": math.fsum(data.tolist()) / data.size, "ci95": [low, high], "n": int(data.size)}


def summarize_metrics(
    records: Sequence[Mapping],
    keys: Sequence[str],
    seed: int = DEFAULT_BOOTSTRAP_SEED,
    resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, dict]:
    """Summaries of each metric key over the records that hold a value for it.

    ``records`` must already be in a fixed order (sorted by clip id). A key no record holds is
    left out (a metric with no scored clip has no mean).
    """
    summaries = {}
    for key in keys:
        values = [record[key] for record in records if record.get(key) is not None]
        if values:
            summaries[key] = summarize(values, seed, resamples)
    return summaries


def _finite_array(values: Sequence[float]) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        raise ValueError("need at least one value")
    if not np.isfinite(data).all():
        bad = [v for v in data.tolist() if not math.isfinite(v)]
        raise ValueError(f"values must be finite, got {bad[:3]}")
    return data
