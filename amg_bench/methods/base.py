"""The one interface every video-generation method implements.

A method turns a :class:`GenerationRequest` (one test clip's caption, avatar condition, first
real frame, ...) into a uint8 video ``(T, H, W, 3)``. The runner knows nothing else about it.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import MethodError, MethodOutputError

#: Request fields a method may list in ``requires``.
REQUEST_INPUTS = frozenset({"prompt", "appearance_prompts", "condition", "reference_frame", "pose", "video"})


@dataclass
class GenerationRequest:
    """Everything a method may use to generate one clip.

    Attributes:
        clip_id: dataset row id, also the output file name.
        prompt: the scene caption.
        appearance_prompts: one appearance caption per person.
        condition: avatar render, uint8 ``(T, H, W, 3)``.
        reference_frame: first real frame, uint8 ``(H, W, 3)``.
        pose: optional body-part ("DensePose-style") video, uint8 ``(T, H, W, 3)``.
        video: the real clip; only reference methods (``ground-truth``) may use it.
        num_frames, fps, height, width: the output the benchmark expects.
        seed: per-clip seed; the same request and seed must give the same video.
    """

    clip_id: str
    prompt: str = ""
    appearance_prompts: list[str] = field(default_factory=list)
    condition: np.ndarray | None = None
    reference_frame: np.ndarray | None = None
    pose: np.ndarray | None = None
    video: np.ndarray | None = None
    num_frames: int = 16
    fps: float = 8.0
    height: int = 256
    width: int = 256
    seed: int = 0

    def missing(self, required: frozenset[str] | set[str]) -> list[str]:
        """Names in ``required`` that this request lacks (None or empty)."""
        return sorted(
            name
            for name in required
            if getattr(self, name) is None or (isinstance(getattr(self, name), (str, list)) and not getattr(self, name))
        )


class Method(abc.ABC):
    """Base class of a generation method.

    Subclasses set ``name`` and ``requires`` and implement :meth:`generate`. Constructor keyword
    arguments are the method's options (from ``baselines/<name>.yaml``, ``--config`` or
    ``--method-arg``); :meth:`options` returns them for provenance.
    """

    name: ClassVar[str] = "method"
    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **options: Any) -> None:
        if options:
            raise MethodError(f"method {self.name!r} takes no options, got {sorted(options)}")
        self._options: dict[str, Any] = {}

    def options(self) -> dict[str, Any]:
        """The options this instance runs with (JSON-serialisable), recorded in results."""
        opts = getattr(self, "_options", {})
        if dataclasses.is_dataclass(opts):
            return dataclasses.asdict(opts)
        return dict(opts)

    def prepare(self, clip_ids: list[str]) -> None:  # noqa: B027 (optional hook)
        """Called once before the first :meth:`generate` with the clip ids this process will generate.

        A place to report problems for the whole run at once (``folder:`` lists the videos it
        lacks); the default does nothing.
        """

    @abc.abstractmethod
    def generate(self, request: GenerationRequest) -> np.ndarray:
        """Return the generated clip as uint8 ``(request.num_frames, request.height, request.width, 3)``."""

    def check_request(self, request: GenerationRequest) -> None:
        """Raise :class:`MethodError` naming every required input the request lacks."""
        missing = request.missing(self.requires)
        if missing:
            raise MethodError(f"method {self.name!r} needs {missing} but clip {request.clip_id} has none")


def check_output(video: Any, request: GenerationRequest, method: str = "method") -> np.ndarray:
    """Validate a method's output against the request.

    Raises:
        MethodOutputError: wrong type, dtype, shape, frame count or size; the message names the
            clip, the field and the value received.
    """
    where = f"{method} output for clip {request.clip_id}"
    if not isinstance(video, np.ndarray):
        raise MethodOutputError(f"{where}: expected a numpy array, got {type(video).__name__}")
    if video.dtype != np.uint8:
        hint = " (values look like floats in [0, 1]; scale by 255)" if np.issubdtype(video.dtype, np.floating) else ""
        raise MethodOutputError(f"{where}: dtype must be uint8, got {video.dtype}{hint}")
    if video.ndim != 4 or video.shape[-1] != 3:
        raise MethodOutputError(f"{where}: shape must be (T, H, W, 3), got {tuple(video.shape)}")
    if video.shape[0] != request.num_frames:
        raise MethodOutputError(f"{where}: num_frames must be {request.num_frames}, got {video.shape[0]}")
    if video.shape[1:3] != (request.height, request.width):
        raise MethodOutputError(
            f"{where}: size must be {request.height}x{request.width}, got {video.shape[1]}x{video.shape[2]}"
        )
    return video
