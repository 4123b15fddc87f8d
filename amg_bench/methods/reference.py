"""Reference methods: the real clip, the avatar render, and videos made elsewhere.

- ``ground-truth`` returns the real clip (the paper's "Ground Truth" row: the ceiling of motion
  fidelity and the CLIP score of real footage);
- ``avatar`` returns the avatar condition render (what motion fidelity gives for the bare
  guidance signal);
- ``folder:<dir>`` reads ``<dir>/<clip_id>.mp4``, so any model's outputs can be scored without
  an adapter. A missing video fails that clip with the path it expected; :meth:`FolderMethod.prepare`
  lists every missing clip before the run starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MethodError
from ..video import read_video, resize
from .base import GenerationRequest, Method

logger = logging.getLogger(__name__)


class GroundTruth(Method):
    """Returns the real clip unchanged."""

    name = "ground-truth"
    requires = frozenset({"video"})

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return request.video


class Avatar(Method):
    """Returns the avatar condition render, resized to the requested size if it differs."""

    name = "avatar"
    requires = frozenset({"condition"})

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return resize(request.condition, request.height, request.width)


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

    def prepare(self, clip_ids: list[str]) -> None:
        missing = self.missing(clip_ids)
        if missing:
            logger.warning(
                "folder %s lacks %d of %d videos; these clips will fail: %s",
                self.folder,
                len(missing),
                len(clip_ids),
                ", ".join(f"{c}.mp4" for c in missing),
            )

    def generate(self, request: GenerationRequest) -> np.ndarray:
        path = self.video_path(request.clip_id)
        if not path.is_file():
            raise MethodError(f"folder method: no video for clip {request.clip_id} (expected {path})")
        return read_video(path)
