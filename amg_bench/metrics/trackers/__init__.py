"""Tracker implementations behind :mod:`amg_bench.metrics.tracking` (``klt``, ``cotracker``).

Reach them through :func:`amg_bench.metrics.tracking.get_tracker`, which imports each on first use.
"""
