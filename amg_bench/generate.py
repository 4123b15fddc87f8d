"""``amg-bench generate``: one video from any registered method, outside a benchmark run.

The method gets the same :class:`~amg_bench.methods.base.GenerationRequest` the evaluation
runner builds from a dataset row, filled from files instead: each request input has one option
(:data:`INPUT_OPTIONS`). Steps:

1. resolve the method and its options (``baselines/<name>.yaml``, ``--config``, ``--method-arg``),
   and refuse, before any weight is loaded, a method whose required inputs were not given,
   naming each one's option;
2. read the inputs: videos decoded to uint8 ``(T, H, W, 3)`` (their mp4 bytes kept as the
   request's ``encoded``, so ``avatar`` publishes the condition unchanged, as in a run); the
   reference frame from an image file, or frame 0 of a video;
3. the request: ``num_frames``, ``fps`` and the size default to the first video input's
   (condition, pose, video), else 16 frames at 8 fps, 256 x 256; ``seed`` is the request's seed
   as given (a benchmark run's per-clip seed is in its ``scores.jsonl``);
4. build the method (weights loaded; ``--device`` / ``--dtype`` fill its options as in
   ``evaluate``), ``prepare`` it with this one clip, generate, check the output, encode it as a
   run stores videos (libx264, yuv420p, CRF 0), and check what the file decodes to;
5. write the mp4 under a temporary name and rename it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MethodError, OutputExistsError, VideoError
from .methods.base import REQUEST_INPUTS, GenerationRequest

#: The command-line option of each request input.
INPUT_OPTIONS = {
    "prompt": "--prompt",
    "appearance_prompts": "--appearance-prompt",
    "condition": "--condition",
    "reference_frame": "--reference-frame",
    "pose": "--pose",
    "video": "--video",
}
DEFAULT_FRAMES, DEFAULT_FPS, DEFAULT_SIZE = 16, 8.0, 256
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass
class GenerateConfig:
    """One generation: the method, its inputs (paths or text) and the output."""

    method: str
    out: str | os.PathLike
    prompt: str = ""
    appearance_prompts: list[str] = field(default_factory=list)
    condition: str | os.PathLike | None = None
    reference_frame: str | os.PathLike | None = None
    pose: str | os.PathLike | None = None
    video: str | os.PathLike | None = None
    num_frames: int | None = None
    fps: float | None = None
    height: int | None = None
    width: int | None = None
    seed: int = 0
    clip_id: str | None = None
    method_config: str | os.PathLike | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    dtype: str | None = None
    crf: int = 0
    overwrite: bool = False


@dataclass(frozen=True)
class GenerateReport:
    out: Path
    method: str
    num_frames: int
    height: int
    width: int
    fps: float
    seed: int
    published: bool
    seconds: float

    def summary(self) -> str:
        how = "published unchanged" if self.published else "generated"
        return (
            f"wrote {self.out}: {self.num_frames} frames {self.height}x{self.width} at {self.fps:g} fps from "
            f"method {self.method!r} ({how}, seed {self.seed}) in {self.seconds:.1f}s"
        )


def missing_inputs(requires: frozenset[str], config: GenerateConfig) -> list[str]:
    """The required request inputs ``config`` does not give."""
    return [name for name in sorted(requires) if _empty(getattr(config, name))]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple)) and not value)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An RGB uint8 ``(H, W, 3)`` image file.

    Raises:
        VideoError: missing or unreadable file.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"image {path} does not exist")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(f"image {path} cannot be read as an image")
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


class _OneClip:
    """The :class:`~amg_bench.methods.base.SplitAccess` of a one-clip "split" (for ``Method.prepare``)."""

    def __init__(self, clip_id: str, encoded: dict[str, bytes]) -> None:
        self.clip_id, self.encoded = clip_id, encoded

    def source_id(self, clip_id: str) -> str:
        return clip_id

    def video_bytes(self, clip_id: str, column: str) -> bytes:
        name = next((n for n, spec in REQUEST_INPUTS.items() if spec.column == column and n in self.encoded), None)
        if clip_id != self.clip_id or name is None:
            raise MethodError(f"generate has only clip {self.clip_id!r}; column {column!r} of {clip_id!r} is not given")
        return self.encoded[name]


def generate_video(config: GenerateConfig) -> GenerateReport:
    """Generate one video with ``config.method`` (see the module docstring for the steps).

    Raises:
        MethodError: unknown method, bad options, a required input not given (its option named),
            weights that fail to load, or an output of the wrong shape.
        MissingWeightsError: the method's weights are not on this machine.
        VideoError: an input that cannot be read.
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
    """
    from .evaluation.runner import build_method
    from .methods.base import check_output
    from .methods.config import merge_options, resolve_options
    from .methods.registry import resolve_method_class
    from .video import encode_mp4, probe, read_video

    started = time.perf_counter()
    out = Path(config.out)
    if out.suffix.lower() != ".mp4":
        raise MethodError(f"--out must name an .mp4 file, got {out}")
    if out.exists() and not config.overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")

    # 1. The method, and what it needs
    cls = resolve_method_class(config.method)
    missing = missing_inputs(cls.requires, config)
    if missing:
        needs = "; ".join(f"{INPUT_OPTIONS[n]} ({REQUEST_INPUTS[n].description})" for n in missing)
        raise MethodError(f"method {config.method!r} needs {needs}")
    file_options, _ = resolve_options(config.method, config.method_config)
    options = merge_options(file_options, config.method_options)

    # 2. Inputs
    videos: dict[str, np.ndarray] = {}
    encoded: dict[str, bytes] = {}
    for name in ("condition", "pose", "video"):
        path = getattr(config, name)
        if path is not None:
            encoded[name] = _read_bytes(path)
            videos[name] = read_video(encoded[name])
    reference = None
    if config.reference_frame is not None:
        path = Path(config.reference_frame)
        reference = read_image(path) if path.suffix.lower() in IMAGE_SUFFIXES else read_video(_read_bytes(path))[0]

    # 3. The request
    first = next((encoded[n] for n in ("condition", "pose", "video") if n in encoded), None)
    info = probe(first) if first is not None else None
    num_frames = config.num_frames or (info.num_frames if info else DEFAULT_FRAMES)
    fps = config.fps or (info.fps if info else DEFAULT_FPS)
    height = config.height or (info.height if info else DEFAULT_SIZE)
    width = config.width or (info.width if info else DEFAULT_SIZE)
    clip_id = config.clip_id or out.stem
    request = GenerationRequest(
        clip_id=clip_id,
        prompt=config.prompt,
        appearance_prompts=list(config.appearance_prompts),
        reference_frame=reference,
        num_frames=int(num_frames),
        fps=float(fps),
        height=int(height),
        width=int(width),
        seed=int(config.seed),
        encoded=encoded,
        **videos,
    )

    # 4. Method, generation, checks
    method = build_method(config.method, cls, options, config.device, config.dtype)
    method.check_request(request)
    method.prepare([clip_id], _OneClip(clip_id, encoded))
    published = method.published(request)
    data = published
    if data is None:
        data = encode_mp4(check_output(method.generate(request), request, config.method), request.fps, crf=config.crf)
    check_output(read_video(data), request, config.method)

    # 5. Write
    from .files import write_bytes

    write_bytes(out, data)
    return GenerateReport(out, config.method, request.num_frames, request.height, request.width, request.fps,
                          request.seed, published is not None, time.perf_counter() - started)  # fmt: skip


def _read_bytes(path: str | os.PathLike) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video {path} does not exist")
    return path.read_bytes()
