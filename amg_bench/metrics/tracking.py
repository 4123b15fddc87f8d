"""Point trackers for motion fidelity: one interface, one query grid, one registry.

Every tracker answers ``track(video, grid_size, query_frame) -> Tracks``: the positions
``(x, y)`` in the video's own pixels of an ``N = grid_size**2`` point grid queried at
``query_frame`` and tracked forward only (no backward tracking, as in the DMT protocol), and per
frame whether the tracker still holds each point. A lost point is not a still point: motion
fidelity drops the points lost in the reference instead of scoring their frozen positions.

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
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import is_integer, positive_int
from ..errors import TrackerError
from ..plugins import load_object, suggest
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
        positive_int(value, name, TrackerError)
    model_h, model_w = COTRACKER_MODEL_RESOLUTION
    if grid_size == 1:
        xs, ys = np.array([model_w / 2]), np.array([model_h / 2])
    else:
        margin = model_w / 64
        xs = np.linspace(margin, model_w - margin, grid_size)
        ys = np.linspace(margin, model_h - margin, grid_size)
    gx, gy = np.meshgrid(xs * (width - 1) / (model_w - 1), ys * (height - 1) / (model_h - 1), indexing="xy")
    return np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float32)


@dataclass(frozen=True)
class Tracks:
    """What a tracker returns: positions and, per frame, whether it still holds each point.

    Attributes:
        positions: float32 ``(T, N, 2)`` of ``(x, y)`` in the video's pixels.
        tracked: bool ``(T, N)``; False where the tracker reports the point lost (KLT: flow status
            0 or a patch error above its threshold, from then on; CoTracker: not visible).
    """

    positions: np.ndarray
    tracked: np.ndarray

    @property
    def lost(self) -> np.ndarray:
        """bool ``(N,)``: points the tracker lost in at least one frame."""
        return ~self.tracked.all(axis=0)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"positions": self.positions, "tracked": self.tracked}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Tracks:
        return cls(np.asarray(arrays["positions"], np.float32), np.asarray(arrays["tracked"], bool))


class Tracker(abc.ABC):
    """A point tracker. Subclasses implement :meth:`_track` and :meth:`config`.

    ``track`` validates the input video and the output, so every tracker returns the same
    thing: :class:`Tracks` of the ``grid_size**2`` grid in the video's pixels.
    """

    name: str = ""

    def track(self, video: np.ndarray, grid_size: int = DEFAULT_GRID_SIZE, query_frame: int = 0) -> Tracks:
        """Track the shared grid from ``query_frame`` forward.

        Args:
            video: uint8 ``(T, H, W, 3)`` RGB frames.
            grid_size: points per side (N = grid_size**2).
            query_frame: frame where the grid is placed, ``0 <= query_frame < T``.

        Returns:
            :class:`Tracks`: float32 ``(T, N, 2)`` positions and bool ``(T, N)`` tracked flags.

        Raises:
            VideoError: the video is not uint8 ``(T, H, W, 3)``.
            TrackerError: bad grid size or query frame, or the tracker returned malformed tracks.
        """
        video = check_frames(video, "video")
        num_frames = video.shape[0]
        grid_size = positive_int(grid_size, "grid_size", TrackerError)
        if not is_integer(query_frame):
            raise TrackerError(f"query_frame must be an integer, got {query_frame!r}")
        if not 0 <= query_frame < num_frames:
            raise TrackerError(f"query_frame must be in [0, {num_frames}), got {query_frame}")
        positions, tracked = self._track(video, grid_size, int(query_frame))
        positions, tracked = np.asarray(positions), np.asarray(tracked)
        expected = (num_frames, grid_size**2, 2)
        if positions.shape != expected:
            raise TrackerError(f"tracker {self.name!r} returned tracks shaped {positions.shape}, expected {expected}")
        if tracked.shape != expected[:2] or tracked.dtype != bool:
            raise TrackerError(
                f"tracker {self.name!r} returned tracked flags {tracked.dtype} {tracked.shape}, "
                f"expected bool {expected[:2]}"
            )
        if not np.isfinite(positions).all():
            raise TrackerError(f"tracker {self.name!r} returned NaN or infinite positions")
        return Tracks(positions.astype(np.float32, copy=False), tracked)

    @abc.abstractmethod
    def _track(self, video: np.ndarray, grid_size: int, query_frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(T, N, 2)`` positions and ``(T, N)`` bool tracked flags for a validated video."""

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Everything that determines the tracks (name, model, weights, parameters), JSON-ready."""


class CachingTracker:
    """A tracker whose results are kept in a :class:`~amg_bench.cache.ContentCache`.

    Keyed by the frames' content, the tracker's :meth:`~Tracker.config`, the grid and the query
    frame, so the reference clips are tracked once whatever method is evaluated against them.
    """

    def __init__(self, tracker: Tracker, root=None) -> None:
        from ..cache import NPZ, ContentCache

        self.tracker = tracker
        self.name = tracker.name
        self.cache = ContentCache("tracks", {"tracker": tracker.config()}, NPZ, root)

    def track(self, video: np.ndarray, grid_size: int = DEFAULT_GRID_SIZE, query_frame: int = 0) -> Tracks:
        from ..cache import content_digest

        video = check_frames(video, "video")
        key = content_digest(video, f"grid={grid_size}", f"query={query_frame}")
        arrays = self.cache.get_or_compute(key, lambda: self.tracker.track(video, grid_size, query_frame).to_arrays())
        return Tracks.from_arrays(arrays)

    def config(self) -> dict[str, Any]:
        return self.tracker.config()


def tracker_options(
    tracker: str, model: str | None = None, repo: str | None = None, checkpoint: str | None = None
) -> dict[str, Any]:
    """The options of ``tracker`` from the ones given (``None``: not given).

    Raises:
        TrackerError: CoTracker options given for another tracker.
    """
    options = {k: v for k, v in (("model", model), ("repo", repo), ("checkpoint", checkpoint)) if v is not None}
    if options and tracker != "cotracker":
        raise TrackerError(f"the CoTracker options {sorted(options)} need the cotracker tracker, not {tracker!r}")
    return options


def available_trackers() -> list[str]:
    """Names accepted by :func:`get_tracker`."""
    return sorted(_TRACKERS)


def get_tracker(name: str, **options: Any) -> Tracker:
    """Build a tracker by name (``"klt"`` or ``"cotracker"``), importing it on first use.

    Raises:
        TrackerError: unknown name (with close matches), options the tracker does not take, or a
            tracker that cannot be built.
    """
    target = _TRACKERS.get(name)
    if target is None:
        raise TrackerError(f"unknown tracker {name!r}; available: {available_trackers()}{suggest(name, _TRACKERS)}")
    cls = load_object(target, name=name, kind="tracker", error=TrackerError)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise TrackerError(f"bad options for tracker {name!r}: {exc}") from exc
    return cls(**options)
