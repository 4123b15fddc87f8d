"""Reference and calibration methods, and videos made elsewhere.

References (shown as labelled rows, never ranked):
- ``ground-truth`` publishes the real clip's own mp4 bytes unchanged (the paper's "Ground Truth"
  row: the ceiling, scored on exactly the reference);
- ``avatar`` publishes the avatar condition render (what the bare guidance signal scores).

Calibrations (labelled rows beside every protocol group: where "no motion" and "wrong motion" land):
- ``frozen``: the first real frame repeated for every frame;
- ``shuffled``: the real clip of *another* test clip, by a fixed derangement that prefers a clip
  of another source (:func:`shuffle_partners`).

Videos made elsewhere:
- ``folder:<dir>`` publishes ``<dir>/<clip_id>.mp4`` unchanged, so any model's outputs can be
  scored without an adapter. A missing video fails that clip with the path it expected;
  :meth:`FolderMethod.prepare` lists every missing clip before the run starts, and refuses the
  run when a video has another frame rate than its benchmark clip (resampling would change its
  motion, so it is never done).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MethodError
from ..video import probe, read_video, resize
from .base import GenerationRequest, Method, SplitAccess

logger = logging.getLogger(__name__)
FPS_TOLERANCE = 0.01


class GroundTruth(Method):
    """The real clip, published as the dataset stores it."""

    name = "ground-truth"
    requires = frozenset({"video"})
    role = "reference"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return request.video

    def published(self, request: GenerationRequest) -> bytes | None:
        return request.encoded.get("video")


class Avatar(Method):
    """The avatar condition render, published unchanged (resized first if the request's size differs)."""

    name = "avatar"
    requires = frozenset({"condition"})
    role = "reference"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return resize(request.condition, request.height, request.width)

    def published(self, request: GenerationRequest) -> bytes | None:
        same_size = request.condition is not None and request.condition.shape[1:3] == (request.height, request.width)
        return request.encoded.get("condition") if same_size else None


class Frozen(Method):
    """Calibration: the first real frame held for the whole clip (no motion at all)."""

    name = "frozen"
    requires = frozenset({"reference_frame"})
    role = "calibration"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        frame = resize(request.reference_frame[None], request.height, request.width)[0]
        return np.ascontiguousarray(np.broadcast_to(frame, (request.num_frames, *frame.shape)))


def shuffle_partners(clip_ids: Sequence[str], sources: Sequence[str]) -> dict[str, str]:
    """A fixed derangement of the clips that prefers a partner from another source.

    The clips, sorted by id, are shifted cyclically by the ``s`` in ``1 .. n - 1`` that gives the
    most partners from another source; ties go to the shift closest to ``n / 2`` (partners far
    apart in the source, so overlapping windows are avoided), then to the smaller shift.
    Every clip gets another clip: a cyclic shift has no fixed point.

    Raises:
        MethodError: fewer than two clips.

    >>> shuffle_partners(["a1", "a2", "b1", "b2"], ["a", "a", "b", "b"])
    {'a1': 'b1', 'a2': 'b2', 'b1': 'a1', 'b2': 'a2'}
    """
    order = sorted(range(len(clip_ids)), key=lambda i: clip_ids[i])
    ids = [clip_ids[i] for i in order]
    src = [sources[i] for i in order]
    n = len(ids)
    if n < 2:
        raise MethodError(f"method 'shuffled' needs at least two clips to exchange, got {n}")

    def quality(shift: int) -> tuple:
        cross = sum(src[i] != src[(i + shift) % n] for i in range(n))
        return (cross, -abs(shift - n / 2), -shift)

    best = max(range(1, n), key=quality)
    return {ids[i]: ids[(i + best) % n] for i in range(n)}


class Shuffled(Method):
    """Calibration: the real clip of another test clip (real motion, but the wrong one)."""

    name = "shuffled"
    requires = frozenset({"video"})
    role = "calibration"

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._partners: dict[str, str] = {}
        self._split: SplitAccess | None = None

    def prepare(self, clip_ids: list[str], split: SplitAccess) -> None:
        self._partners = shuffle_partners(clip_ids, [split.source_id(c) for c in clip_ids])
        self._split = split

    def partner(self, clip_id: str) -> str:
        if clip_id not in self._partners:
            raise MethodError(f"method 'shuffled' was not prepared with clip {clip_id} (the runner calls prepare)")
        return self._partners[clip_id]

    def published(self, request: GenerationRequest) -> bytes | None:
        return self._split.video_bytes(self.partner(request.clip_id), "video")

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return read_video(self.published(request))


@dataclass
class FolderOptions:
    """``folder``: the folder of ``<clip_id>.mp4`` files (``--method folder:<folder>``), recorded resolved."""

    folder: str

    def __post_init__(self) -> None:
        path = Path(self.folder)
        if not path.is_dir():
            raise MethodError(f"method folder:{self.folder}: {path} is not a folder of <clip_id>.mp4 videos")
        self.folder = str(path.resolve())


class FolderMethod(Method):
    """Reads pre-generated videos ``<folder>/<clip_id>.mp4``.

    Raises:
        MethodError: ``folder`` is not a directory.
    """

    name = "folder"
    Options = FolderOptions

    @property
    def folder(self) -> Path:
        return Path(self.options.folder)

    def video_path(self, clip_id: str) -> Path:
        """Where the video of ``clip_id`` is expected."""
        return self.folder / f"{clip_id}.mp4"

    def missing(self, clip_ids: list[str]) -> list[str]:
        """The clip ids that have no video in the folder."""
        return [clip_id for clip_id in clip_ids if not self.video_path(clip_id).is_file()]

    def prepare(self, clip_ids: list[str], split: SplitAccess) -> None:
        """Warn about missing videos; refuse the run when any video has another frame rate than its clip.

        Raises:
            MethodError: naming the first videos at a wrong frame rate and the rate they need.
        """
        present = [c for c in clip_ids if self.video_path(c).is_file()]
        wrong = [(c, probe(self.video_path(c)).fps, split.fps(c)) for c in present]
        wrong = [(c, got, want) for c, got, want in wrong if abs(got - want) > FPS_TOLERANCE]
        if wrong:
            shown = ", ".join(f"{c}.mp4 runs at {got:g} fps (clip: {want:g})" for c, got, want in wrong[:3])
            raise MethodError(
                f"folder {self.folder}: {len(wrong)} of {len(present)} videos have another frame rate than their "
                f"clip: {shown}; export each at its clip's fps, one frame per clip frame (a resampled video would "
                "not have the clip's motion)"
            )
        missing = self.missing(clip_ids)
        if missing:
            logger.warning(
                "folder %s lacks %d of %d videos; these clips will fail: %s",
                self.folder,
                len(missing),
                len(clip_ids),
                ", ".join(f"{c}.mp4" for c in missing),
            )

    def published(self, request: GenerationRequest) -> bytes | None:
        path = self.video_path(request.clip_id)
        if not path.is_file():
            raise MethodError(f"folder method: no video for clip {request.clip_id} (expected {path})")
        fps = probe(path).fps
        if abs(fps - request.fps) > FPS_TOLERANCE:
            raise MethodError(
                f"folder method: {path} runs at {fps:g} fps but clip {request.clip_id} is {request.fps:g} fps; "
                f"export it at {request.fps:g} fps (its {request.num_frames} frames, one per clip frame): "
                "a resampled video would not have the clip's motion"
            )
        return path.read_bytes()

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return read_video(self.published(request))
