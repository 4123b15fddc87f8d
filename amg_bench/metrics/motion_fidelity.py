"""Motion fidelity of a generated video against a reference video: resize, track, score.

Protocol (docs/DESIGN.md, "Metrics"):
- both videos are resized to the same evaluation size before tracking, default 256 x 256 (the
  dataset's clip size, so reference clips are tracked untouched); resizing uses
  :func:`amg_bench.video.resize` (area filter down, bilinear up). ``eval_size=None`` tracks at the
  native size and then requires both videos to have it;
- a ``grid_size`` x ``grid_size`` grid (default 55) is queried at frame 0 and tracked forward only
  with the chosen tracker (:mod:`amg_bench.metrics.tracking`);
- the tracks are scored by :mod:`amg_bench.metrics.functional.motion_fidelity`, every requested
  variant in one pass.

Reference tracks do not depend on the generated video: the evaluation runner caches
:meth:`MotionFidelity.tracks` of each reference keyed by its content and :meth:`MotionFidelity.config`,
then calls :meth:`MotionFidelity.score_tracks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import MetricError
from ..video import check_frames, resize
from .functional.motion_fidelity import (
    DEFAULT_CHUNK_SIZE,
    VARIANTS,
    check_variants,
    describe_variants,
    motion_fidelity_scores,
)
from .tracking import DEFAULT_GRID_SIZE, Tracker, get_tracker

DEFAULT_EVAL_SIZE = (256, 256)


class MotionFidelity:
    """Motion fidelity with a point tracker.

    Args:
        tracker: ``"klt"``, ``"cotracker"`` or a :class:`~amg_bench.metrics.tracking.Tracker`.
        grid_size: points per side of the query grid.
        eval_size: ``(height, width)`` both videos are resized to before tracking, or ``None``.
        variants: any of ``"chamfer"``, ``"dmt"``.
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
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        **tracker_options: Any,
    ):
        if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
            raise MetricError(f"grid_size must be a positive integer, got {grid_size!r}")
        if eval_size is not None:
            if (
                not isinstance(eval_size, (tuple, list))
                or len(eval_size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in eval_size)
            ):
                raise MetricError(f"eval_size must be (height, width) positive integers or None, got {eval_size!r}")
            eval_size = (int(eval_size[0]), int(eval_size[1]))
        self.variants = check_variants(variants)
        if isinstance(tracker, Tracker):
            if tracker_options:
                raise MetricError(
                    f"tracker options {sorted(tracker_options)} need a tracker name, not a Tracker object"
                )
            self.tracker = tracker
        elif isinstance(tracker, str):
            self.tracker = get_tracker(tracker, **tracker_options)
        else:
            raise MetricError(f"tracker must be a name or a Tracker, got {type(tracker).__name__}")
        self.grid_size = grid_size
        self.eval_size = eval_size
        self.chunk_size = chunk_size

    def tracks(self, video: np.ndarray) -> np.ndarray:
        """Resize ``video`` (uint8 ``(T, H, W, 3)``) to the evaluation size and track the grid.

        Returns:
            float32 ``(T, grid_size**2, 2)`` in evaluation-size pixels.

        Raises:
            VideoError: bad frames. TrackerError: the tracker failed.
        """
        video = check_frames(video, "video")
        if self.eval_size is not None:
            video = resize(video, *self.eval_size)
        return self.tracker.track(video, self.grid_size, 0)

    def score_tracks(self, generated_tracks, reference_tracks) -> dict[str, float]:
        """``{variant: score}`` (×100) of generated against reference tracks ``(T, N, 2)``.

        Raises:
            MetricError: different frame counts, point counts ``dmt`` cannot use, bad tracks.
        """
        return motion_fidelity_scores(generated_tracks, reference_tracks, self.variants, self.chunk_size)

    def score(self, generated_video: np.ndarray, reference_video: np.ndarray) -> dict[str, float]:
        """Track both videos and score them; ``{variant: score}``.

        Raises:
            VideoError: bad frames.
            MetricError: different frame counts, or different sizes with ``eval_size=None``.
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
        return self.score_tracks(self.tracks(generated_video), self.tracks(reference_video))

    def config(self) -> dict[str, Any]:
        """Everything the scores depend on (also the reference-track cache key), JSON-ready."""
        return {
            "tracker": self.tracker.config(),
            "grid_size": self.grid_size,
            "grid": "CoTracker placement (margin 512/64 px in its 384x512 frame)",
            "query_frame": 0,
            "backward_tracking": False,
            "eval_size": list(self.eval_size) if self.eval_size else None,
            "resize": "amg_bench.video.resize (area down, bilinear up)" if self.eval_size else "none",
            "variants": describe_variants(self.variants),
            "zero_displacement": "zero vector",
        }
