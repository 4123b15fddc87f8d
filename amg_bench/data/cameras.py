"""Camera paths for new renders: static, orbit, zoom, dolly, or per-frame extrinsics from a file.

Every path is built around the people's *framing* (:func:`frame_people`): the world's up
direction, the direction from the people towards the first camera, and two centres with the
radius of the sphere about each that holds the people: the *pivot*, the middle of the box
holding every vertex over the whole clip, and each frame's *centre*, the middle of that frame's
box. A camera looks at a centre from where its sphere spans :data:`FILL` of the frame's shorter
side (the people fill the frame, and stay inside it from any side). Orbits and zooms follow the
people (each frame's camera looks at that frame's centre, so walking people stay centred);
static and dolly shots are a fixed rig on the clip's pivot:

- ``static``: the camera on the pivot, every frame;
- ``orbit:DEG``: the camera turns about the up axis through the people's centre by ``DEG``
  degrees in total, ``DEG * t / (T - 1)`` at frame ``t`` (positive: counter-clockwise seen from
  above), keeping its distance and height and always looking at the centre (the paper's Fig. 9);
- ``zoom-in`` / ``zoom-out``: the camera moves along its line of sight so the people's sphere
  grows linearly to :data:`ZOOM_FACTOR` times its projected size (shrinks to its inverse) by the
  last frame. Intrinsics are one per clip in the dataset's schema, so the zoom is made by the
  distance: it frames the people as a focal zoom would, with a dolly's perspective;
- ``dolly:METRES``: the static camera travels ``METRES`` along its line of sight (positive:
  towards the people), ``METRES * t / (T - 1)`` at frame ``t``, keeping its orientation;
- a path to a ``.npy`` of ``(T, 4, 4)`` world-to-camera matrices, or an ``.npz`` holding them
  as ``extrinsics`` (the sidecar of an earlier ``amg-bench render``): used as given.

Conventions: world-to-camera extrinsics with OpenCV axes (x right, y down, z forward), as
everywhere in the package.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MotionError

FILL = 0.9  # share of the frame's shorter side the people's sphere spans at the start
ZOOM_FACTOR = 1.5  # projected size at the last frame of zoom-in (1 / ZOOM_FACTOR for zoom-out)
MIN_CLEARANCE = 0.1  # metres a dolly must stay outside the people's sphere
KINDS = ("static", "orbit", "zoom-in", "zoom-out", "dolly", "file")


@dataclass(frozen=True)
class CameraPath:
    """A parsed ``--camera`` value: its kind, amount (degrees, metres) or file, and the text it came from."""

    kind: str
    amount: float = 0.0
    file: Path | None = None
    text: str = ""

    @property
    def slug(self) -> str:
        """A name safe in file names and clip ids (``orbit:180`` -> ``orbit-180``)."""
        if self.kind in ("orbit", "dolly"):
            return f"{self.kind}-{self.amount:g}"
        return self.kind if self.kind != "file" else f"file-{self.file.stem}"


def parse_camera_path(text: str | os.PathLike) -> CameraPath:
    """``static``, ``orbit:DEG``, ``zoom-in``, ``zoom-out``, ``dolly:METRES`` or an existing file of extrinsics.

    Raises:
        MotionError: anything else, naming the value and the forms accepted.
    """
    value = str(text).strip()
    if value in ("static", "zoom-in", "zoom-out"):
        return CameraPath(value, text=value)
    name, sep, amount = value.partition(":")
    if sep and name in ("orbit", "dolly"):
        try:
            number = float(amount)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            unit = "degrees" if name == "orbit" else "metres"
            raise MotionError(f"camera {value!r}: {name}:{unit.upper()} needs a finite number of {unit}")
        return CameraPath(name, number, text=value)
    path = Path(value).expanduser()
    if path.suffix.lower() in (".npy", ".npz"):
        if not path.is_file():
            raise MotionError(f"camera file {path} does not exist")
        return CameraPath("file", file=path, text=value)
    raise MotionError(
        f"camera {value!r} is not a camera path: use static, orbit:DEG, zoom-in, zoom-out, dolly:METRES, "
        "or a .npy / .npz file of (frames, 4, 4) world-to-camera extrinsics"
    )


@dataclass(frozen=True)
class Framing:
    """Where the people are (metres, world frame).

    Attributes:
        pivot, radius: the middle of the box holding every vertex of the clip, and the sphere about it holding them.
        up: the world's up direction (unit).
        toward: from the people towards the first camera (unit, never along ``up``).
        centres, spread: ``(T, 3)`` each frame's box middle (a frame without people holds its
            neighbours'), and the largest radius about them holding that frame's people.
    """

    pivot: np.ndarray
    radius: float
    up: np.ndarray
    toward: np.ndarray
    centres: np.ndarray | None = None
    spread: float | None = None

    def centre(self, frame: int) -> np.ndarray:
        return self.pivot if self.centres is None else self.centres[frame]

    @property
    def tracked(self) -> Framing:
        """The framing of one frame's people: radius ``spread`` (the sphere a following camera frames)."""
        return Framing(self.pivot, self.radius if self.spread is None else self.spread, self.up, self.toward)


def _unit(vector: np.ndarray, what: str) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    if not norm > 1e-9 or not np.isfinite(norm):
        raise MotionError(f"cannot frame the people: {what} is undefined (a zero or non-finite vector)")
    return vector / norm


def frame_people(points: np.ndarray, up: np.ndarray, toward: np.ndarray) -> Framing:
    """The framing of ``points``: ``(T, N, 3)`` vertices of every person per frame (NaN where not visible).

    ``toward`` (from the people towards the first camera) is made perpendicular to ``up`` when it
    is (nearly) parallel to it, so the camera never looks straight along the up axis.

    Raises:
        MotionError: no finite point, or a zero ``up`` / ``toward``.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 2:
        points = points[None]
    finite = np.isfinite(points).all(axis=-1)  # (T, N)
    if not finite.any():
        raise MotionError("cannot frame the people: no visible body in any frame")
    every = points[finite]
    pivot = (every.min(axis=0) + every.max(axis=0)) / 2
    radius = float(np.sqrt(((every - pivot) ** 2).sum(axis=1)).max())
    shown = np.flatnonzero(finite.any(axis=1))
    centres = np.zeros((len(points), 3))
    spread = 0.0
    for t in shown:
        frame = points[t][finite[t]]
        centres[t] = (frame.min(axis=0) + frame.max(axis=0)) / 2
        spread = max(spread, float(np.sqrt(((frame - centres[t]) ** 2).sum(axis=1)).max()))
    for axis in range(3):  # frames without people hold their neighbours' centre
        centres[:, axis] = np.interp(np.arange(len(points)), shown, centres[shown, axis])
    up = _unit(up, "the up direction")
    toward = _unit(toward, "the direction towards the camera")
    if abs(float(toward @ up)) > 0.99:
        toward = _unit(toward - (toward @ up) * up + 1e-3 * _any_perpendicular(up), "the direction to the camera")
    return Framing(pivot, max(radius, 1e-3), up, toward, centres, max(spread, 1e-3))


def _any_perpendicular(up: np.ndarray) -> np.ndarray:
    axis = np.eye(3)[int(np.argmin(np.abs(up)))]
    return np.cross(up, axis)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(4, 4) world-to-camera of a camera at ``eye`` looking at ``target``, image up along ``up`` (OpenCV axes).

    >>> e = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    >>> (e[:3, :3] @ np.zeros(3) + e[:3, 3]).tolist()  # the target is 3 m straight ahead
    [0.0, 0.0, 3.0]
    """
    forward = _unit(np.asarray(target, float) - np.asarray(eye, float), "the line of sight")
    down = -np.asarray(up, dtype=np.float64)
    down = _unit(down - (down @ forward) * forward, "the camera's down axis (up is along the line of sight)")
    right = np.cross(down, forward)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    extrinsics = np.eye(4)
    extrinsics[:3, :3] = rotation
    extrinsics[:3, 3] = -rotation @ np.asarray(eye, dtype=np.float64)
    return extrinsics


def camera_centre(extrinsics: np.ndarray) -> np.ndarray:
    """World position of a world-to-camera transform's camera: ``-R^T t``."""
    extrinsics = np.asarray(extrinsics, dtype=np.float64)
    return -extrinsics[:3, :3].T @ extrinsics[:3, 3]


def start_distance(framing: Framing, intrinsics: np.ndarray, height: int, width: int) -> float:
    """Distance from the pivot at which the people's sphere spans :data:`FILL` of the frame on its tighter axis.

    A sphere of radius ``r`` at distance ``d`` projects to a disc of radius ``f r / sqrt(d^2 - r^2)``
    pixels, so ``d = r sqrt(1 + (f / (FILL * S / 2))^2)`` for focal ``f`` and side ``S``, the larger over x and y.
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    ratios = (k[0, 0] / (FILL * width / 2), k[1, 1] / (FILL * height / 2))
    return framing.radius * math.sqrt(1.0 + max(ratios) ** 2)


def _rotate(vector: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation of ``vector`` about the unit ``axis`` by ``angle`` radians."""
    return (
        vector * math.cos(angle)
        + np.cross(axis, vector) * math.sin(angle)
        + axis * (axis @ vector) * (1 - math.cos(angle))
    )


def camera_frames(
    path: CameraPath, framing: Framing, intrinsics: np.ndarray, height: int, width: int, num_frames: int
) -> np.ndarray:
    """float64 ``(num_frames, 4, 4)`` world-to-camera extrinsics of ``path`` (see the module docstring).

    Raises:
        MotionError: a dolly that would enter the people's sphere, or a camera file that is not
            ``(num_frames, 4, 4)`` finite rigid transforms.
    """
    if path.kind == "file":
        return load_extrinsics(path.file, num_frames)
    d0 = start_distance(framing, intrinsics, height, width)  # the fixed rig, on the pivot
    follow = framing.tracked
    d1 = start_distance(follow, intrinsics, height, width)  # a following camera, on each frame's centre
    steps = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    pivot, up, toward = framing.pivot, framing.up, framing.toward
    frames = []
    for t, s in enumerate(steps):
        centre = framing.centre(t) if framing.centres is not None and t < len(framing.centres) else pivot
        if path.kind == "orbit":
            eye = centre + d1 * _rotate(toward, up, math.radians(path.amount) * s)
            frames.append(look_at(eye, centre, up))
        elif path.kind in ("zoom-in", "zoom-out"):
            target = ZOOM_FACTOR if path.kind == "zoom-in" else 1.0 / ZOOM_FACTOR
            scale = 1.0 + (target - 1.0) * s  # projected size relative to the start
            distance = math.sqrt(follow.radius**2 + (d1**2 - follow.radius**2) / scale**2)
            frames.append(look_at(centre + distance * toward, centre, up))
        elif path.kind == "dolly":
            if d0 - path.amount < framing.radius + MIN_CLEARANCE:
                raise MotionError(
                    f"camera {path.text!r}: the camera starts {d0:.2f} m from the people's centre and their sphere "
                    f"has radius {framing.radius:.2f} m; a dolly of more than "
                    f"{d0 - framing.radius - MIN_CLEARANCE:.2f} m "
                    "would enter it"
                )
            start = look_at(pivot + d0 * toward, pivot, up)
            eye = pivot + (d0 - path.amount * s) * toward
            moved = start.copy()
            moved[:3, 3] = -start[:3, :3] @ eye
            frames.append(moved)
        elif path.kind == "static":
            frames.append(look_at(pivot + d0 * toward, pivot, up))
        else:
            raise MotionError(f"unknown camera path kind {path.kind!r}")
    return np.stack(frames)


def load_extrinsics(path: str | os.PathLike, num_frames: int) -> np.ndarray:
    """``(num_frames, 4, 4)`` world-to-camera matrices from a ``.npy`` (the array) or ``.npz`` (its ``extrinsics``).

    Raises:
        MotionError: unreadable file (no pickles are loaded), wrong shape, non-finite values, or
            3x3 blocks that are not rotations.
    """
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if "extrinsics" not in loaded.files:
                    raise MotionError(f"camera file {path} holds no 'extrinsics' array (it has {loaded.files})")
                loaded = loaded["extrinsics"]
    except (OSError, ValueError) as exc:
        raise MotionError(f"camera file {path} is not a readable .npy / .npz of plain numbers: {exc}") from exc
    extrinsics = np.asarray(loaded, dtype=np.float64)
    if extrinsics.shape != (num_frames, 4, 4) or not np.isfinite(extrinsics).all():
        raise MotionError(
            f"camera file {path} must hold ({num_frames}, 4, 4) finite world-to-camera matrices (one per output "
            f"frame), got shape {extrinsics.shape}"
        )
    rotation = extrinsics[:, :3, :3]
    if not np.allclose(rotation @ np.transpose(rotation, (0, 2, 1)), np.eye(3), atol=1e-4) or not np.allclose(
        np.linalg.det(rotation), 1.0, atol=1e-4
    ):
        raise MotionError(f"camera file {path}: the 3x3 blocks must be rotations (world-to-camera, OpenCV axes)")
    return extrinsics
