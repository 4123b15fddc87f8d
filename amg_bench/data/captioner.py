"""Captions from a vision-language model, asked the paper's two questions.

* Scene: the middle frame of every valid window (``start + 24``, the frame whose caption a
  window takes) with :data:`SCENE_QUESTION`.
* Appearance: one key frame per person - the frame where the person's projected body mesh has
  the largest box while lying fully inside the image - with that box drawn on it, and
  :data:`APPEARANCE_QUESTION`.

The model runs through ``transformers`` (``AutoProcessor`` + ``AutoModelForImageTextToText``,
the prompt from the processor's own chat template), so any image-text-to-text checkpoint with a
chat template works; the default is LLaVA-1.5 7B (``llava-hf/llava-1.5-7b-hf``). Each image is
first padded to a square with the processor's mean colour, the image centred, as LLaVA-1.5
itself does (``image_aspect_ratio: pad``): llava-hf's processor would otherwise resize the short
side and centre-crop 336x336, cutting the sides off a 16:9 frame and, with them, the people
and boxes there (:func:`pad_to_square`). Decoding is
greedy, so a caption depends only on the image, question and model. Requests are batched per
question; frames are decoded in one pass over the video, holding at most one batch per question.

Each caption is an entry of the package's content cache (namespace ``captions``, one JSON file
written atomically), keyed by the video's sha256, the frame, the question and the box under the
model, token budget and preprocessing: a rerun, or a crashed run started again, only asks the
model for what is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CaptionError, MissingWeightsError
from ..files import sha256_file
from .captions import Captions
from .motion import Motion
from .windows import WindowSpec, people_in_window, valid_starts

SCENE_QUESTION = (
    "How does the scene look? How do the humans in the scene interact with each other and the environment? "
    "What is the atmosphere of the image?"
)
APPEARANCE_QUESTION = "How would you describe the appearance of the person in the bounding box?"
DEFAULT_MODEL = "llava-hf/llava-1.5-7b-hf"
BOX_COLOR = (255, 0, 0)  # RGB
MAX_KEY_FRAME_CANDIDATES = 600  # frames posed per person when looking for the appearance key frame


@dataclass(frozen=True)
class CaptionRequest:
    """One question about one frame; ``box`` (u0, v0, u1, v1) pixels is drawn for appearance."""

    frame: int
    question: str
    person_id: str | None = None
    box: tuple[int, int, int, int] | None = None


# ---------------------------------------------------------------------------------------------
# What to ask (pure, given a body model)
# ---------------------------------------------------------------------------------------------


def draw_box(
    frame: np.ndarray, box: Box, color: tuple[int, int, int] = BOX_COLOR, thickness: int | None = None
) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3 uint8 RGB) with the rectangle ``box`` drawn on it.

    The outline covers pixels ``u0..u1`` x ``v0..v1`` (inclusive), ``thickness`` pixels wide
    centred on the box edges (default ``max(2, round(max(H, W) / 300))``).
    """
    import cv2

    height, width = frame.shape[:2]
    thickness = thickness or max(2, round(max(height, width) / 300))
    image = np.ascontiguousarray(frame).copy()
    u0, v0, u1, v1 = (int(v) for v in box)
    cv2.rectangle(image, (u0, v0), (u1, v1), color=tuple(int(c) for c in color), thickness=thickness)
    return image


Box = tuple[int, int, int, int]


def pad_to_square(image: np.ndarray, fill: Sequence[int]) -> np.ndarray:
    """``image`` (H, W, 3) uint8 centred on a ``max(H, W)`` square of colour ``fill``.

    The offset is ``(side - W) // 2`` columns and ``(side - H) // 2`` rows, as LLaVA-1.5's own
    preprocessing pastes it; a square image is returned unchanged.
    """
    height, width = image.shape[:2]
    side = max(height, width)
    if height == width:
        return image
    square = np.empty((side, side, 3), dtype=np.uint8)
    square[:] = np.asarray(fill, dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = image
    return square


def processor_fill(processor) -> tuple[int, int, int]:
    """The padding colour LLaVA uses: the image processor's mean, ``int(255 m)`` per channel (grey when absent)."""
    image_processor = getattr(processor, "image_processor", processor)
    mean = getattr(image_processor, "image_mean", None) or (0.5, 0.5, 0.5)
    if isinstance(mean, (int, float)):
        mean = (mean,) * 3
    return tuple(int(value * 255) for value in mean)


def appearance_key_frame(motion: Motion, person: int, body, frames: Sequence[int]) -> tuple[int, Box]:
    """The frame among ``frames`` that shows person ``person`` best, and their box there.

    Best: the largest projected-mesh box that lies fully inside the image (every vertex in
    front of the camera); when no frame has one, the largest box clipped to the image. Ties
    go to the earlier frame.

    Raises:
        CaptionError: the person is in view in none of ``frames``.
    """
    from .render import NEAR, Camera, person_bbox

    height, width = motion.image_size
    best, best_key = None, None
    frames = np.asarray(sorted(frames), dtype=np.int64)
    if len(frames) > MAX_KEY_FRAME_CANDIDATES:
        frames = frames[np.linspace(0, len(frames) - 1, MAX_KEY_FRAME_CANDIDATES).round().astype(int)]
    for chunk in np.array_split(frames, max(1, int(np.ceil(len(frames) / 128)))):
        vertices, _ = body.forward(
            motion.global_orient[person, chunk],
            motion.body_pose[person, chunk],
            motion.betas[person],
            motion.transl[person, chunk],
        )
        for frame, mesh in zip(chunk, vertices):
            camera = Camera(motion.intrinsics, motion.extrinsics[frame], height, width)
            box = person_bbox(mesh, camera)
            if box is None:
                continue
            in_front = (camera.to_camera(mesh)[:, 2] > NEAR).all()
            uv = camera.project(mesh)
            inside = bool(in_front and uv.min() >= 0 and uv[:, 0].max() <= width - 1 and uv[:, 1].max() <= height - 1)
            key = (inside, (box[2] - box[0]) * (box[3] - box[1]), -int(frame))
            if best_key is None or key > best_key:
                best_key = key
                best = (
                    int(frame),
                    (int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))),
                )
    if best is None:
        raise CaptionError(f"person {motion.person_ids[person]} is in view in none of its {len(frames)} frames")
    return best


def plan_requests(
    motion: Motion, num_video_frames: int, body, windows: WindowSpec = WindowSpec()
) -> list[CaptionRequest]:
    """Scene requests for the middle frame of every valid window, then one appearance request
    per person who is in a valid window (key frame and box from :func:`appearance_key_frame`).

    Raises:
        CaptionError: no valid window.
    """
    starts = valid_starts(motion.valid, num_video_frames, windows)
    if not len(starts):
        raise CaptionError("the motion gives no valid window, so there is nothing to caption")
    requests = [CaptionRequest(f, SCENE_QUESTION) for f in sorted({windows.caption_frame(int(s)) for s in starts})]
    people = sorted({int(p) for s in starts for p in people_in_window(motion.valid, int(s), windows)})
    for person in people:
        frames = np.flatnonzero(motion.valid[person, :num_video_frames])
        frame, box = appearance_key_frame(motion, person, body, frames)
        requests.append(CaptionRequest(frame, APPEARANCE_QUESTION, motion.person_ids[person], box))
    return requests


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def _missing_weights(model_id: str, exc: Exception) -> MissingWeightsError:
    from huggingface_hub import constants

    return MissingWeightsError(
        f"captioning model {model_id!r} is not available offline ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
        f"Download it once on a machine with network: `hf download {model_id}` (older huggingface_hub: "
        f"`huggingface-cli download {model_id}`) into the Hugging Face cache (HF_HOME, now {constants.HF_HOME}), "
        "or pass --model a local folder holding the checkpoint"
    )


class VLMCaptioner:
    """An image-text-to-text model answering one question about a batch of images.

    Args:
        model: Hub id or local folder (``AutoProcessor`` + ``AutoModelForImageTextToText``);
            with ``HF_HUB_OFFLINE=1`` only local files are used.
        device: torch device (default: ``cuda`` when available, else ``cpu``).
        dtype: ``"auto"`` (float16 on GPU, float32 on CPU), ``"float32"``, ``"float16"``, ``"bfloat16"``.
        batch_size: images per ``generate`` call.
        max_new_tokens: answer length budget.
        pad_square: pad each image to a square with the processor's mean colour first (LLaVA-1.5's
            own preprocessing); turn it off for models that take any aspect ratio.

    Raises:
        MissingWeightsError: the model is not available (the message says how to download it).
        CaptionError: the checkpoint is not an image-text-to-text model, or has no chat template.
    """

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 4,
        max_new_tokens: int = 120,
        pad_square: bool = True,
    ) -> None:
        import torch
        from huggingface_hub import constants
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if batch_size < 1 or max_new_tokens < 1:
            raise CaptionError(f"batch_size and max_new_tokens must be >= 1, got {batch_size}, {max_new_tokens}")
        local = Path(model).expanduser()
        if not local.is_dir() and (str(model).startswith(("/", ".", "~")) or str(model).count("/") > 1):
            raise MissingWeightsError(
                f"captioning model folder {local} does not exist; pass a Hub id (e.g. "
                f"{DEFAULT_MODEL}) or a folder holding a saved image-text-to-text model"
            )
        self.model_id = str(local.resolve()) if local.is_dir() else str(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            dtype = "float16" if self.device.startswith("cuda") else "float32"
        if dtype not in ("float32", "float16", "bfloat16"):
            raise CaptionError(f"dtype must be auto, float32, float16 or bfloat16, got {dtype!r}")
        self.dtype = getattr(torch, dtype)
        self.batch_size, self.max_new_tokens, self.pad_square = batch_size, max_new_tokens, pad_square
        offline = {"local_files_only": bool(constants.HF_HUB_OFFLINE)}
        try:
            self.processor = AutoProcessor.from_pretrained(self.model_id, **offline)
            model_ = AutoModelForImageTextToText.from_pretrained(self.model_id, dtype=self.dtype, **offline)
        except OSError as exc:
            raise _missing_weights(self.model_id, exc) from exc
        except (ValueError, KeyError) as exc:
            raise CaptionError(f"{self.model_id!r} cannot be loaded as an image-text-to-text model: {exc}") from exc
        self.model = model_.to(self.device).eval()
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # batched generation continues every prompt at its end
        self._torch = torch

    def prompt(self, question: str) -> str:
        """The model's own chat prompt for one image followed by ``question``."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        try:
            return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except ValueError as exc:
            raise CaptionError(
                f"captioning model {self.model_id!r} has no chat template: pick an "
                f"instruction-tuned image-text-to-text model ({exc})"
            ) from exc

    def prepare(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The images as the processor gets them: padded to squares of the mean colour (``pad_square``)."""
        if not self.pad_square:
            return list(images)
        fill = processor_fill(self.processor)
        return [pad_to_square(np.asarray(image), fill) for image in images]

    def generate(self, images: Sequence[np.ndarray], question: str) -> list[str]:
        """One greedy answer per image (uint8 (H, W, 3) RGB), stripped of the prompt."""
        prompt = self.prompt(question)
        inputs = self.processor(
            images=self.prepare(images), text=[prompt] * len(images), return_tensors="pt", padding=True
        )
        inputs = {
            k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device) for k, v in inputs.items()
        }
        with self._torch.inference_mode():
            output = self.model.generate(**inputs, do_sample=False, max_new_tokens=self.max_new_tokens)
        answers = self.processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return [" ".join(answer.split()) for answer in answers]


# ---------------------------------------------------------------------------------------------
# The cache and the captioning pass
# ---------------------------------------------------------------------------------------------


class CaptionCache:
    """Captions in the package's :class:`~amg_bench.cache.ContentCache` (namespace ``captions``).

    The settings are the model, the token budget and the preprocessing; each entry is keyed by the
    video's sha256, the frame, the question and the box, and stores the caption with what it answers.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = root

    def _store(self, model_id: str, max_new_tokens: int, preprocess: str):
        from ..cache import JSON, ContentCache

        settings = {"model": model_id, "max_new_tokens": max_new_tokens, "preprocess": preprocess}
        return ContentCache("captions", settings, JSON, root=self.root)

    def entries(self, model_id: str, max_new_tokens: int, preprocess: str = "pad-square") -> CaptionEntries:
        return CaptionEntries(self._store(model_id, max_new_tokens, preprocess))


@dataclass
class CaptionEntries:
    """The captions of one model, token budget and preprocessing."""

    store: Any

    @staticmethod
    def key(video_sha: str, request: CaptionRequest) -> str:
        from ..cache import content_digest

        return content_digest(video_sha, str(request.frame), request.question, json.dumps(request.box))[:32]

    def get(self, video_sha: str, request: CaptionRequest) -> str | None:
        entry = self.store.get(self.key(video_sha, request))
        caption = entry.get("caption") if isinstance(entry, dict) else None
        return caption if isinstance(caption, str) and caption.strip() else None  # absent or damaged: ask again

    def put(self, video_sha: str, request: CaptionRequest, caption: str) -> None:
        entry = {
            "caption": caption,
            "frame": request.frame,
            "question": request.question,
            "box": request.box,
            "person_id": request.person_id,
            "model": self.store.settings["model"],
            "video_sha256": video_sha,
        }
        self.store.put(self.key(video_sha, request), entry)


@dataclass
class CaptionStats:
    """Captions of one source: how many, and how many the model wrote now vs. the cache held."""

    scene_frames: int
    people: int
    generated: int
    cached: int


def caption_video(
    video: str | os.PathLike,
    motion: Motion,
    num_video_frames: int,
    captioner: VLMCaptioner,
    cache: CaptionCache,
    body,
    windows: WindowSpec = WindowSpec(),
    progress: bool = False,
) -> tuple[Captions, CaptionStats]:
    """Caption what the windows of one source need (see :func:`plan_requests`).

    Raises:
        CaptionError: nothing to caption, or the model returned an empty answer.
        VideoError: the video cannot be decoded.
    """
    from tqdm.auto import tqdm

    from ..video import iter_frames

    requests = plan_requests(motion, num_video_frames, body, windows)
    video_sha = sha256_file(video)
    preprocess = "pad-square" if getattr(captioner, "pad_square", False) else "crop"
    entries = cache.entries(captioner.model_id, captioner.max_new_tokens, preprocess)
    answers = {r: entries.get(video_sha, r) for r in requests}
    missing = [r for r in requests if answers[r] is None]
    by_frame: dict[int, list[CaptionRequest]] = {}
    for request in missing:
        by_frame.setdefault(request.frame, []).append(request)
    pending: dict[str, list[tuple[CaptionRequest, np.ndarray]]] = {}
    bar = tqdm(total=len(missing), desc=f"captioning {Path(video).name}", unit="caption", disable=not progress)

    def ask(question: str) -> None:
        batch = pending.pop(question, [])
        texts = captioner.generate([image for _, image in batch], question) if batch else []
        for (request, _), text in zip(batch, texts):
            if not text:
                raise CaptionError(
                    f"captioning model {captioner.model_id!r} gave an empty answer for frame {request.frame} of {video}"
                )
            entries.put(video_sha, request, text)
            answers[request] = text
        bar.update(len(batch))

    last = max(by_frame, default=-1)
    with bar:
        for index, frame in enumerate(iter_frames(video) if by_frame else ()):
            if index > last:
                break
            for request in by_frame.get(index, ()):
                image = frame if request.box is None else draw_box(frame, request.box)
                pending.setdefault(request.question, []).append((request, image))
                if len(pending[request.question]) >= captioner.batch_size:
                    ask(request.question)
        for question in list(pending):
            ask(question)
    unanswered = [r.frame for r in requests if answers[r] is None]
    if unanswered:
        raise CaptionError(f"video {video} ended before frame(s) {unanswered[:5]} could be captioned")
    captions = Captions(
        scene_frames={r.frame: answers[r] for r in requests if r.person_id is None},
        appearance={r.person_id: answers[r] for r in requests if r.person_id is not None},
    )
    stats = CaptionStats(
        len(captions.scene_frames), len(captions.appearance), len(missing), len(requests) - len(missing)
    )
    return captions, stats


@dataclass
class SourceCaptions:
    """What :func:`caption_manifest` did for one source."""

    source_id: str
    path: Path
    stats: CaptionStats | None  # None: the file existed and was kept


def caption_manifest(
    manifest: str | os.PathLike,
    model: str | os.PathLike = DEFAULT_MODEL,
    body_model: str | os.PathLike = "mannequin",
    device: str | None = None,
    dtype: str = "auto",
    batch_size: int = 4,
    max_new_tokens: int = 120,
    cache_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    windows: WindowSpec = WindowSpec(),
) -> list[SourceCaptions]:
    """Write the captions file of every manifest source that lacks one (all with ``overwrite``).

    Every source's video and motion are checked, and the body model matched to the motions,
    before the model is loaded. Captions are cached in the content cache under
    ``cache_dir`` (default :func:`amg_bench.cache.cache_root`), so an interrupted run resumes where it stopped.

    Raises:
        ManifestError, VideoError, MotionError, BuildError, BodyModelError: bad sources.
        MissingWeightsError, CaptionError: see :class:`VLMCaptioner` and :func:`caption_video`.
    """
    from .body_model import load_body_model
    from .builder import require_body_model
    from .captions import save_captions
    from .manifest import load_manifest
    from .sources import load_video_and_motion

    specs = load_manifest(manifest, may_be_missing=("captions",))
    todo = [spec for spec in specs if overwrite or not spec.captions.is_file()]
    results = {spec.id: SourceCaptions(spec.id, spec.captions, None) for spec in specs}
    if todo:
        body = load_body_model(body_model)
        checked = []
        for spec in todo:
            video, motion = load_video_and_motion(spec, windows, body)
            require_body_model(motion, body, str(spec.motion))
            checked.append((spec, video, motion))
        captioner = VLMCaptioner(
            model, device=device, dtype=dtype, batch_size=batch_size, max_new_tokens=max_new_tokens
        )
        cache = CaptionCache(cache_dir)
        for spec, video, motion in checked:
            captions, stats = caption_video(
                spec.video, motion, video.num_frames, captioner, cache, body, windows, progress
            )
            save_captions(spec.captions, captions)
            results[spec.id].stats = stats
    return [results[spec.id] for spec in specs]
