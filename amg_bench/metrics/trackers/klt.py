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
- a frame bit-identical to the one before is no motion: every point holds its position. Between
  identical frames LK returns round-off (up to ~0.001 px), which unit displacements would turn
  into full-length random directions (a held frame would then "move");
- a point is *lost* from the first frame where its flow fails: OpenCV status 0 (too little
  texture in the window), a non-finite position, a position outside the frame (OpenCV keeps
  status 1 for most points that leave it, at extrapolated positions), or a patch error (OpenCV's
  mean absolute grey-level difference between the two windows) above ``max_error``.
  From then on it is reported not tracked and keeps its last position; motion fidelity drops
  the points lost in the reference, so a frozen position is never scored as a still point.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...checks import finite_number, positive_int
from ...errors import TrackerError
from ..tracking import Tracker, grid_points

#: Default largest patch error of a tracked step (grey levels); see :class:`KLTTracker`.
MAX_ERROR = 50.0


class KLTTracker(Tracker):
    """Pyramidal Lucas-Kanade point tracking (OpenCV), chained frame to frame.

    Args:
        window_size: side of the LK search window in pixels (OpenCV's default 21).
        pyramid_levels: extra pyramid levels above full resolution (3: motions up to ~8x the
            window reach).
        max_iterations, epsilon: per-level stopping criteria of the LK iterations.
        max_error: largest patch error (mean absolute grey difference, 0-255) of a step that
            still counts as tracked.
    """

    name = "klt"

    def __init__(
        self,
        window_size: int = 21,
        pyramid_levels: int = 3,
        max_iterations: int = 30,
        epsilon: float = 0.01,
        max_error: float = MAX_ERROR,
    ):
        self.window_size = positive_int(window_size, "window_size", TrackerError, minimum=3)
        self.pyramid_levels = positive_int(pyramid_levels, "pyramid_levels", TrackerError, minimum=0)
        self.max_iterations = positive_int(max_iterations, "max_iterations", TrackerError)
        self.epsilon = finite_number(epsilon, "epsilon", TrackerError)
        self.max_error = finite_number(max_error, "max_error", TrackerError)
        if self.epsilon <= 0 or self.max_error <= 0:
            raise TrackerError(f"epsilon and max_error must be positive, got {epsilon!r}, {max_error!r}")

    def _track(self, video: np.ndarray, grid_size: int, query_frame: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        num_frames, height, width = video.shape[:3]
        grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video]
        start = grid_points(height, width, grid_size)
        positions = np.empty((num_frames, start.shape[0], 2), dtype=np.float32)
        tracked = np.ones((num_frames, start.shape[0]), dtype=bool)
        positions[: query_frame + 1] = start
        alive = np.ones(start.shape[0], dtype=bool)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, self.max_iterations, self.epsilon)
        for t in range(query_frame + 1, num_frames):
            previous = positions[t - 1]
            if np.array_equal(grey[t], grey[t - 1]):
                positions[t], tracked[t] = previous, alive
                continue
            moved, status, error = cv2.calcOpticalFlowPyrLK(
                grey[t - 1],
                grey[t],
                previous.reshape(-1, 1, 2),
                None,
                winSize=(self.window_size, self.window_size),
                maxLevel=self.pyramid_levels,
                criteria=criteria,
            )
            moved = moved.reshape(-1, 2)
            in_frame = (
                (moved[:, 0] >= 0) & (moved[:, 0] <= width - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= height - 1)
            )
            alive &= (
                (status.ravel() == 1) & np.isfinite(moved).all(axis=1) & in_frame & (error.ravel() <= self.max_error)
            )
            positions[t] = np.where(alive[:, None], moved, previous)
            tracked[t] = alive
        return positions, tracked

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
            "max_error": self.max_error,
            "lost": "status 0, non-finite, outside the frame, or patch error above max_error; lost from that frame on",
            "still": "a frame identical to the previous one is no motion",
            "opencv": cv2.__version__,
        }
