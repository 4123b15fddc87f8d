"""Motion fidelity of a generated video against a reference video: resize, track, drop lost points, score.

Protocol:
- both videos are resized to the same evaluation size before tracking, default 256 x 256 (the
  dataset's clip size, so reference clips are tracked untouched); resizing uses
  :func:`amg_bench.video.resize` (area filter down, bilinear up). ``eval_size=None`` tracks at the
  native size and then requires both videos to have it;
- a ``grid_size`` x ``grid_size`` grid (default 55) is queried at frame 0 and tracked forward only
  with the chosen tracker (:mod:`amg_bench.metrics.tracking`);
- with ``drop_lost`` (the default), a query point the tracker lost in the *reference* at any
  frame is dropped from both videos before scoring: a lost point's frozen position is not a
  still point. The count of dropped points is reported with every score;
- an optional point subset (e.g. the points inside the people's frame-0 masks) restricts the
  score further;
- the kept tracks are scored by :mod:`amg_bench.metrics.functional.motion_fidelity`, every
  requested variant in one pass.

Reference tracks do not depend on the generated video, so the evaluation runner tracks
references through a :class:`~amg_bench.metrics.tracking.CachingTracker`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import positive_int
from ..errors import MetricError
from ..video import check_frames, resize
from .functional.motion_fidelity import (
    DEFAULT_CHUNK_SIZE,
    VARIANTS,
    check_variants,
    describe_variants,
    motion_fidelity_scores,
)
from .tracking import DEFAULT_GRID_SIZE, Tracker, Tracks, get_tracker

DEFAULT_EVAL_SIZE = (256, 256)


@dataclass(frozen=True)
class MotionScore:
    """Scores of one clip: ``{variant: value}`` (x100), points scored, and points dropped as lost."""

    scores: dict[str, float]
    points: int
    dropped: int


def check_eval_size(eval_size: Any) -> tuple[int, int] | None:
    """``(height, width)`` of positive integers (at most 4096 each), or ``None`` for the native size.

    Raises:
        MetricError: anything else, naming the value.
    """
    if eval_size is None:
        return None
    if not isinstance(eval_size, (tuple, list)) or len(eval_size) != 2:
        raise MetricError(f"eval_size must be (height, width) positive integers or None, got {eval_size!r}")
    height, width = (positive_int(v, "eval_size", MetricError) for v in eval_size)
    if max(height, width) > 4096:
        raise MetricError(f"eval_size must be at most 4096x4096, got {height}x{width}")
    return height, width


def kept_points(reference: Tracks, drop_lost: bool, subset: np.ndarray | None = None) -> np.ndarray:
    """Indices of the query points scored: not lost in the reference (with ``drop_lost``), and in ``subset``.

    >>> tracks = Tracks(np.zeros((3, 4, 2), np.float32), np.array([[1, 1, 1, 1], [1, 0, 1, 1], [1, 0, 1, 0]], bool))
    >>> kept_points(tracks, True).tolist(), kept_points(tracks, True, np.array([1, 1, 0, 1], bool)).tolist()
    ([0, 2], [0])
    """
    keep = ~reference.lost if drop_lost else np.ones(reference.positions.shape[1], dtype=bool)
    if subset is not None:
        subset = np.asarray(subset, dtype=bool)
        if subset.shape != keep.shape:
            raise MetricError(f"point subset must have shape {keep.shape}, got {subset.shape}")
        keep &= subset
    return np.flatnonzero(keep)


class MotionFidelity:
    """Motion fidelity with a point tracker.

    Args:
        tracker: ``"klt"``, ``"cotracker"`` or a :class:`~amg_bench.metrics.tracking.Tracker`.
        grid_size: points per side of the query grid.
        eval_size: ``(height, width)`` both videos are resized to before tracking, or ``None``.
        variants: any of ``"chamfer"``, ``"dmt"``.
        drop_lost: drop the points the tracker lost in the reference (the DMT script keeps them).
        chunk_size: generated tracklets per block in the score (memory knob only).
        **tracker_options: passed to :func:`~amg_bench.metrics.tracking.get_tracker` when
            ``tracker`` is a name (e.g. ``model="cotracker_w8"``, ``checkpoint=...``).

    Raises:
        MetricError: bad grid size, evaluation size or variants, or options with a Tracker object.
        TrackerError, MissingWeightsError: the tracker cannot be built.
    """

    def __init__(
        self,
        tracker: str | Tracker = "klt",
        grid_size: int = DEFAULT_GRID_SIZE,
        eval_size: tuple[int, int] | None = DEFAULT_EVAL_SIZE,
        variants: Iterable[str] = VARIANTS,
        drop_lost: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        **tracker_options: Any,
    ):
        self.grid_size = positive_int(grid_size, "grid_size", MetricError)
        self.eval_size = check_eval_size(eval_size)
        self.variants = check_variants(variants)
        self.drop_lost = bool(drop_lost)
        self.chunk_size = chunk_size
        if isinstance(tracker, str):
            self.tracker = get_tracker(tracker, **tracker_options)
        elif hasattr(tracker, "track") and hasattr(tracker, "config"):
            if tracker_options:
                raise MetricError(f"tracker options {sorted(tracker_options)} need a tracker name, not a Tracker")
            self.tracker = tracker
        else:
            raise MetricError(f"tracker must be a name or a Tracker, got {type(tracker).__name__}")

    def tracks(self, video: np.ndarray, tracker: Any = None) -> Tracks:
        """Resize ``video`` (uint8 ``(T, H, W, 3)``) to the evaluation size and track the grid.

        ``tracker`` overrides the configured one (e.g. a caching wrapper of it).

        Raises:
            VideoError: bad frames. TrackerError: the tracker failed.
        """
        video = check_frames(video, "video")
        if self.eval_size is not None:
            video = resize(video, *self.eval_size)
        return (tracker or self.tracker).track(video, self.grid_size, 0)

    def score_tracks(
        self, generated: Tracks, reference: Tracks, subset: np.ndarray | None = None
    ) -> MotionScore | None:
        """Scores of generated against reference tracks on the kept points (:func:`kept_points`).

        Returns:
            :class:`MotionScore`, or ``None`` when no point is left (every point lost in the
            reference, or an empty ``subset``).

        Raises:
            MetricError: different frame or point counts, bad tracks.
        """
        if generated.positions.shape != reference.positions.shape:
            raise MetricError(
                f"generated tracks {generated.positions.shape} and reference tracks {reference.positions.shape} "
                "differ: both videos need the same frame count and grid"
            )
        keep = kept_points(reference, self.drop_lost, subset)
        if keep.size == 0:
            return None
        lost = int(reference.lost.sum()) if self.drop_lost else 0
        scores = motion_fidelity_scores(
            generated.positions[:, keep], reference.positions[:, keep], self.variants, self.chunk_size
        )
        return MotionScore(scores, int(keep.size), lost)

    def score(self, generated_video: np.ndarray, reference_video: np.ndarray) -> MotionScore:
        """Track both videos and score them.

        Raises:
            VideoError: bad frames.
            MetricError: different frame counts, different sizes with ``eval_size=None``, or every
                point lost in the reference.
            TrackerError: the tracker failed.
        """
        generated_video = check_frames(generated_video, "generated video")
        reference_video = check_frames(reference_video, "reference video")
        if len(generated_video) != len(reference_video):
            raise MetricError(
                f"generated video has {len(generated_video)} frames but the reference has {len(reference_video)}"
            )
        if self.eval_size is None and generated_video.shape[1:3] != reference_video.shape[1:3]:
            raise MetricError(
                f"generated video is {generated_video.shape[1]}x{generated_video.shape[2]} but the reference is "
                f"{reference_video.shape[1]}x{reference_video.shape[2]}; set eval_size to track both at one size"
            )
        result = self.score_tracks(self.tracks(generated_video), self.tracks(reference_video))
        if result is None:
            raise MetricError(f"the tracker lost all {self.grid_size**2} query points in the reference video")
        return result

    def config(self) -> dict[str, Any]:
        """Everything the scores depend on, JSON-ready."""
        return {
            "tracker": self.tracker.config(),
            "grid_size": self.grid_size,
            "grid": "CoTracker placement (margin 512/64 px in its 384x512 frame)",
            "query_frame": 0,
            "backward_tracking": False,
            "eval_size": list(self.eval_size) if self.eval_size else None,
            "resize": "amg_bench.video.resize (area down, bilinear up)" if self.eval_size else "none",
            "variants": describe_variants(self.variants),
            "lost_points": "dropped from both videos when lost in the reference" if self.drop_lost else "kept",
            "zero_displacement": "zero vector",
        }
