"""Point trackers for motion fidelity: one interface, one query grid, one registry.

Every tracker answers ``track(video, grid_size, query_frame) -> (T, N, 2)``: the positions
``(x, y)`` in the video's own pixels of an ``N = grid_size**2`` point grid queried at
``query_frame`` and tracked forward only (no backward tracking, as in the DMT protocol).

The grid is CoTracker's: CoTracker (>= 2) places it in its model frame of 384 x 512
(H x W) with a margin of ``512 / 64 = 8`` model pixels on every side, rows top to bottom and
x fastest, and maps model pixels to input pixels with ``(W - 1) / 511`` and ``(H - 1) / 383``
(its ``align_corners=True`` resize). :func:`grid_points` reproduces that placement so the KLT
tracker queries the very points CoTracker tracks. In input pixels the margin is therefore about
``W / 64`` horizontally and ``H / 48`` vertically. CoTracker v1 (``cotracker_w8``, used by DMT)
mapped with ``W / 512`` instead, which moves a point by at most ``x * |512 - W| / (512 * 511)``
pixels (under 0.5 px at the benchmark's 256 x 256).

Trackers: ``klt`` (OpenCV pyramidal Lucas-Kanade, no weights, an offline approximation) and
``cotracker`` (facebookresearch/co-tracker through ``torch.hub``). Results of the two are never
comparable; each tracker's :meth:`Tracker.config` carries its name into results provenance.
"""

from __future__ import annotations

import abc
import difflib
import importlib
import inspect
from typing import Any

import numpy as np

from ..errors import TrackerError
from ..video import check_frames

DEFAULT_GRID_SIZE = 55
COTRACKER_MODEL_RESOLUTION = (384, 512)  # (H, W) of CoTracker's internal frame

_TRACKERS = {
    "klt": "amg_bench.metrics.trackers.klt:KLTTracker",
    "cotracker": "amg_bench.metrics.trackers.cotracker:CoTrackerTracker",
}


def grid_points(height: int, width: int, grid_size: int = DEFAULT_GRID_SIZE) -> np.ndarray:
    """The shared query grid in pixels of a ``height`` x ``width`` video (CoTracker's placement).

    Returns:
        float32 ``(grid_size**2, 2)`` array of ``(x, y)``, row-major (x varies fastest). A
        ``grid_size`` of 1 gives the model frame's centre.

    Raises:
        TrackerError: non-positive sizes.

    >>> grid_points(384, 512, 2).tolist()
    [[8.0, 8.0], [504.0, 8.0], [8.0, 376.0], [504.0, 376.0]]
    """
    for name, value in (("height", height), ("width", width), ("grid_size", grid_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise TrackerError(f"{name} must be a positive integer, got {value!r}")
    model_h, model_w = COTRACKER_MODEL_RESOLUTION
    if grid_size == 1:
        xs, ys = np.array([model_w / 2]), np.array([model_h / 2])
    else:
        margin = model_w / 64
        xs = np.linspace(margin, model_w - margin, grid_size)
        ys = np.linspace(margin, model_h - margin, grid_size)
    gx, gy = np.meshgrid(xs * (width - 1) / (model_w - 1), ys * (height - 1) / (model_h - 1), indexing="xy")
    return np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float32)


class Tracker(abc.ABC):
    """A point tracker. Subclasses implement :meth:`_track` and :meth:`config`.

    ``track`` validates the input video and the output tracks, so every tracker returns the
    same thing: float32 ``(T, grid_size**2, 2)`` positions in the video's pixels.
    """

    name: str = ""

    def track(self, video: np.ndarray, grid_size: int = DEFAULT_GRID_SIZE, query_frame: int = 0) -> np.ndarray:
        """Track the shared grid from ``query_frame`` forward.

        Args:
            video: uint8 ``(T, H, W, 3)`` RGB frames.
            grid_size: points per side (N = grid_size**2).
            query_frame: frame where the grid is placed, ``0 <= query_frame < T``.

        Returns:
            float32 ``(T, grid_size**2, 2)`` of ``(x, y)`` in the video's pixels.

        Raises:
            VideoError: the video is not uint8 ``(T, H, W, 3)``.
            TrackerError: bad grid size or query frame, or the tracker returned malformed tracks.
        """
        video = check_frames(video, "video")
        num_frames = video.shape[0]
        if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) or grid_size < 1:
            raise TrackerError(f"grid_size must be a positive integer, got {grid_size!r}")
        if isinstance(query_frame, bool) or not isinstance(query_frame, (int, np.integer)):
            raise TrackerError(f"query_frame must be an integer, got {query_frame!r}")
        if not 0 <= query_frame < num_frames:
            raise TrackerError(f"query_frame must be in [0, {num_frames}), got {query_frame}")
        tracks = np.asarray(self._track(video, int(grid_size), int(query_frame)))
        expected = (num_frames, int(grid_size) ** 2, 2)
        if tracks.shape != expected:
            raise TrackerError(f"tracker {self.name!r} returned tracks shaped {tracks.shape}, expected {expected}")
        if not np.isfinite(tracks).all():
            raise TrackerError(f"tracker {self.name!r} returned NaN or infinite positions")
        return tracks.astype(np.float32, copy=False)

    @abc.abstractmethod
    def _track(self, video: np.ndarray, grid_size: int, query_frame: int) -> np.ndarray:
        """Return ``(T, grid_size**2, 2)`` positions for a validated video."""

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Everything that determines the tracks (name, model, weights, parameters), JSON-ready."""


def available_trackers() -> list[str]:
    """Names accepted by :func:`get_tracker`."""
    return sorted(_TRACKERS)


def get_tracker(name: str, **options: Any) -> Tracker:
    """Build a tracker by name (``"klt"`` or ``"cotracker"``), importing it on first use.

    Raises:
        TrackerError: unknown name (with close matches) or options the tracker does not take.
    """
    target = _TRACKERS.get(name)
    if target is None:
        close = difflib.get_close_matches(str(name), list(_TRACKERS), n=2)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise TrackerError(f"unknown tracker {name!r}; available: {available_trackers()}{hint}")
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise TrackerError(f"bad options for tracker {name!r}: {exc}") from exc
    return cls(**options)
