"""The benchmark's two scores and what they need.

- ``clip_score``: :class:`~amg_bench.metrics.clip_score.CLIPScorer` (open_clip model loading,
  preprocessing, caption cache) over ``functional.clip_score``.
- ``motion_fidelity``: :class:`~amg_bench.metrics.motion_fidelity.MotionFidelity` (resize,
  track, score) over ``functional.motion_fidelity``.
- ``tracking``: the point-tracker interface, the shared query grid and the tracker registry
  (``trackers/cotracker.py``, ``trackers/klt.py``).
- ``score``: both metrics for one pair of video files (the ``amg-bench score`` command).

Nothing heavy is imported here; each module imports torch / open_clip / OpenCV itself.
"""
