"""KLT: OpenCV pyramidal Lucas-Kanade on the shared grid, an offline stand-in for CoTracker.

It needs no weights, so motion fidelity runs on any machine, but it is an approximation:
frame-to-frame sparse optical flow drifts, loses points on occlusion and in flat regions, and
its numbers are not comparable with CoTracker's. Results carry ``tracker: klt`` and
``approximation: true`` and must never be mixed with CoTracker rows.

Protocol:
- grid: :func:`amg_bench.metrics.tracking.grid_points` (CoTracker's placement), queried at
  ``query_frame``;
- forward chaining only: frame ``t`` is tracked from frame ``t - 1`` with
  ``cv2.calcOpticalFlowPyrLK`` on grey frames (no backward tracking, as in DMT);
- frames before ``query_frame`` hold the query positions (nothing is tracked backwards);
- a point whose flow fails (status 0, non-finite) keeps its last position from then on, so its
  later steps are zero displacements, which motion fidelity counts as 0 (no direction).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import TrackerError
from ..tracking import Tracker, grid_points


class KLTTracker(Tracker):
    """Pyramidal Lucas-Kanade point tracking (OpenCV), chained frame to frame.

    Args:
        window_size: side of the LK search window in pixels (OpenCV's default 21).
        pyramid_levels: extra pyramid levels above full resolution (3: motions up to ~8x the
            window reach).
        max_iterations, epsilon: per-level stopping criteria of the LK iterations.
    """

    name = "klt"

    def __init__(self, window_size: int = 21, pyramid_levels: int = 3, max_iterations: int = 30, epsilon: float = 0.01):
        if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size < 3:
            raise TrackerError(f"window_size must be an integer >= 3, got {window_size!r}")
        if isinstance(pyramid_levels, bool) or not isinstance(pyramid_levels, int) or pyramid_levels < 0:
            raise TrackerError(f"pyramid_levels must be an integer >= 0, got {pyramid_levels!r}")
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
            raise TrackerError(f"max_iterations must be an integer >= 1, got {max_iterations!r}")
        if not epsilon > 0:
            raise TrackerError(f"epsilon must be positive, got {epsilon!r}")
        self.window_size = window_size
        self.pyramid_levels = pyramid_levels
        self.max_iterations = max_iterations
        self.epsilon = float(epsilon)

    def _track(self, video: np.ndarray, grid_size: int, query_frame: int) -> np.ndarray:
        import cv2

        num_frames, height, width = video.shape[:3]
        grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video]
        start = grid_points(height, width, grid_size)
        tracks = np.empty((num_frames, start.shape[0], 2), dtype=np.float32)
        tracks[: query_frame + 1] = start
        alive = np.ones(start.shape[0], dtype=bool)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, self.max_iterations, self.epsilon)
        for t in range(query_frame + 1, num_frames):
            previous = tracks[t - 1]
            moved, status, _ = cv2.calcOpticalFlowPyrLK(
                grey[t - 1],
                grey[t],
                previous.reshape(-1, 1, 2),
                None,
                winSize=(self.window_size, self.window_size),
                maxLevel=self.pyramid_levels,
                criteria=criteria,
            )
            moved = moved.reshape(-1, 2)
            alive &= (status.ravel() == 1) & np.isfinite(moved).all(axis=1)
            tracks[t] = np.where(alive[:, None], moved, previous)
        return tracks

    def config(self) -> dict[str, Any]:
        import cv2

        return {
            "name": self.name,
            "approximation": True,
            "description": "OpenCV pyramidal Lucas-Kanade, frame-to-frame from the query frame; "
            "offline approximation of CoTracker, not comparable with cotracker results",
            "window_size": self.window_size,
            "pyramid_levels": self.pyramid_levels,
            "max_iterations": self.max_iterations,
            "epsilon": self.epsilon,
            "lost_points": "hold their last position",
            "opencv": cv2.__version__,
        }
