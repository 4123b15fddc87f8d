"""The one interface every video-generation method implements.

A method turns a :class:`GenerationRequest` (one test clip's caption, avatar condition, first
real frame, ...) into a uint8 video ``(T, H, W, 3)``. The runner knows nothing else about it.

Writing a method::

    @dataclass
    class MyOptions:
        steps: int = 20
        device: str = "auto"          # a field named device / dtype receives --device / --dtype

    class MyMethod(Method):
        name = "mine"
        requires = frozenset({"prompt", "condition"})   # checked against REQUEST_INPUTS at class definition
        Options = MyOptions                             # built and type-checked from YAML / --method-arg

        def generate(self, request):
            ...  # self.options.steps

Adding a request input is one row of :data:`REQUEST_INPUTS` and the field of the same name on
:class:`GenerationRequest`; the runner, the column checks and the CLI read the table.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from ..errors import MethodError, MethodOutputError
from ..plugins import suggest
from ..results import ROLES


@dataclass(frozen=True)
class RequestInput:
    """Where a request input comes from in a dataset row, and how it is read.

    ``kind``: ``"text"`` (a string column), ``"texts"`` (a list of strings), ``"video"`` (a video
    column decoded to uint8 ``(T, H, W, 3)``) or ``"first_frame"`` (frame 0 of a video column).
    """

    column: str
    kind: str
    description: str


#: Every input a method may list in ``requires``, with its dataset column.
REQUEST_INPUTS: dict[str, RequestInput] = {
    "prompt": RequestInput("scene_caption", "text", "the scene caption"),
    "appearance_prompts": RequestInput("appearance_captions", "texts", "one appearance caption per person"),
    "condition": RequestInput("avatar_video", "video", "the avatar condition render"),
    "reference_frame": RequestInput("video", "first_frame", "the first real frame"),
    "pose": RequestInput("pose_video", "video", "the body-part video (DensePose convention)"),
    "video": RequestInput("video", "video", "the real clip (reference methods only)"),
}


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
        encoded: the mp4 bytes, as stored in the dataset, of the video inputs the request holds
            (by input name): what a reference method publishes unchanged.
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
    encoded: dict[str, bytes] = field(default_factory=dict, repr=False)

    def missing(self, required: frozenset[str] | set[str]) -> list[str]:
        """Names in ``required`` that this request lacks (None or empty)."""
        return sorted(name for name in required if _empty(getattr(self, name)))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list)) and not value)


@dataclass
class NoOptions:
    """The options of a method that takes none."""


class SplitAccess(Protocol):
    """What :meth:`Method.prepare` may read of the evaluated split (the runner's split implements it)."""

    def source_id(self, clip_id: str) -> str: ...

    def fps(self, clip_id: str) -> float: ...

    def video_bytes(self, clip_id: str, column: str) -> bytes: ...


class Method(abc.ABC):
    """Base class of a generation method.

    Class attributes:
        name: the method's name in results.
        requires: request inputs the method reads (keys of :data:`REQUEST_INPUTS`); validated
            when the subclass is defined, so a typo fails at import with a suggestion.
        Options: a dataclass of the method's options; the constructor's keyword arguments (from
            ``baselines/<name>.yaml``, ``--config`` or ``--method-arg``) become ``self.options``
            after a type check (:func:`~amg_bench.methods.config.build_options`).
        uses_prompt: whether the output depends on ``prompt`` (default: ``"prompt" in requires``);
            recorded in results so a CLIP score is not read as prompt following when it is not.
        role: ``"method"`` (ranked), ``"reference"`` (ground truth, the avatar render) or
            ``"calibration"`` (where "no motion" and "wrong motion" land); only methods are ranked.
    """

    name: ClassVar[str] = "method"
    requires: ClassVar[frozenset[str]] = frozenset()
    Options: ClassVar[type] = NoOptions
    uses_prompt: ClassVar[bool | None] = None
    role: ClassVar[str] = "method"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.requires, str) or not all(isinstance(r, str) for r in cls.requires):
            raise MethodError(f"{cls.__qualname__}.requires must be a set of input names, got {cls.requires!r}")
        cls.requires = frozenset(cls.requires)
        unknown = sorted(cls.requires - set(REQUEST_INPUTS))
        if unknown:
            raise MethodError(
                f"{cls.__qualname__}.requires names {unknown[0]!r}, which is not a request input"
                f"{suggest(unknown[0], REQUEST_INPUTS)} Request inputs: {sorted(REQUEST_INPUTS)}"
            )
        if not (isinstance(cls.Options, type) and dataclasses.is_dataclass(cls.Options)):
            raise MethodError(f"{cls.__qualname__}.Options must be a dataclass, got {cls.Options!r}")
        if "uses_prompt" not in vars(cls) or cls.uses_prompt is None:
            cls.uses_prompt = "prompt" in cls.requires
        if cls.role not in ROLES:
            raise MethodError(f"{cls.__qualname__}.role must be one of {list(ROLES)}, got {cls.role!r}")

    def __init__(self, **options: Any) -> None:
        from .config import build_options

        self.options = build_options(type(self).Options, options, self.name)

    def options_dict(self) -> dict[str, Any]:
        """The options this instance runs with (JSON-ready), recorded in results."""
        return dataclasses.asdict(self.options)

    def load(self) -> None:  # noqa: B027 (an optional hook)
        """Load weights and build models now.

        The runner calls it once, before the first clip, so missing or broken weights fail the
        run at once instead of every clip; the default does nothing.
        """

    def prepare(self, clip_ids: list[str], split: SplitAccess) -> None:  # noqa: B027 (an optional hook)
        """Called once before the first :meth:`generate` with every clip id of the run (all processes).

        A place to report problems for the whole run at once (``folder:`` lists the videos it
        lacks) or to plan across clips (``shuffled``); the default does nothing.
        """

    def published(self, request: GenerationRequest) -> bytes | None:
        """mp4 bytes this method's output already exists as, or ``None`` (the default).

        When given, the runner stores these bytes unchanged instead of encoding :meth:`generate`'s
        frames, and scores what they decode to: ``ground-truth`` is then scored on exactly the
        dataset's clip, ``folder:`` on exactly the files it was given.
        """
        return None

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
