"""The ``dmt`` method: :class:`DMTPipeline` behind :meth:`Method.generate`, as the AMG paper compared it.

The avatar render (``request.condition``) is DMT's input video and the scene caption
(``request.prompt``) its target prompt; the source prompt describing the render comes from the
``source_prompt`` template. Defaults are the release's ``configs/guidance_config.yaml`` and
``configs/preprocess_config.yaml`` (``baselines/dmt.yaml`` holds the same values): 50 DDIM steps,
the first 20 guided (``max_guidance_timestep`` 1, ``min_guidance_timestep`` 0.6), 10 Adam steps per
guided step with lr 0.007 -> 0.004, guidance 10 with the release's negative prompt, restart
sampling, down-sampling factor 4 for the initial latent, 999 inversion steps, 576 x 320.
The release's example prompts start with "Amazing quality, masterpiece, " (its README: used for
inversion and edits); ``prompt_prefix`` adds it to both prompts.

Frames: the request's ``num_frames`` (16 in the benchmark; the release runs 24). The condition is
stretched to 576 x 320 with PIL bicubic (the release's ``Image.resize``), the output decoded at
576 x 320 is converted to uint8 like the release's ``tensor2vid`` (``(x * 255).astype(uint8)``
after clamping to [0, 1], i.e. truncated) and resized to the request's size with
:func:`amg_bench.video.resize`. :meth:`DMT.options_dict` records both resize rules.
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...checks import finite_number, positive_int
from ...errors import MethodError, VideoError
from ..base import GenerationRequest
from ..pipeline_method import PipelineMethod, check_pipeline_options
from ..weights import WeightsSource, require_local
from .components import DOWNLOAD_HINT, INPUT_RESIZE_RULE, NEGATIVE_PROMPT, ZEROSCOPE_MODEL, missing_base

PROMPT_PREFIX = "Amazing quality, masterpiece, "
#: The default description of the avatar render (people drawn as coloured meshes on black).
SOURCE_PROMPT = "a 3D render of {people} as smooth coloured mannequins moving on a black background"
#: Placeholders ``source_prompt`` may use.
SOURCE_FIELDS = {
    "people": "'a person', 'two people', ... from the number of appearance captions ('people' when there are none)",
    "appearance": "the appearance captions joined with '; '",
    "prompt": "the scene caption",
}
OUTPUT_RESIZE_RULE = "amg_bench.video.resize from height x width to the request's size (area down, bilinear up)"
_COUNTS = {1: "a person", 2: "two people", 3: "three people", 4: "four people", 5: "five people"}


def _template_fields(template: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise MethodError(f"dmt option source_prompt is not a valid template ({exc}): {template!r}") from exc


@dataclass
class DMTOptions:
    """Options of the ``dmt`` method (``baselines/dmt.yaml`` holds the same defaults).

    Attributes:
        model: the ZeroScope base: ``hub:cerspense/zeroscope_v2_576w`` (Hugging Face cache) or a
            local folder in its layout (:mod:`amg_bench.methods.weights`).
        num_inference_steps: DDIM sampling steps (release ``n_timesteps``: 50).
        inversion_steps: DDIM inversion steps (release preprocessing ``n_timesteps``: 999); their
            timesteps must include the guided ones.
        max_guidance_timestep, min_guidance_timestep: the release's fractions of the schedule:
            sampling starts at fraction ``max`` and the last ``min`` part is not guided (1.0, 0.6: 20 of 50 guided).
        optimization_steps: Adam steps on the latent per guided step (10).
        lr_range: the learning rate's first and last value over the guided steps (0.007, 0.004).
        guidance_scale: classifier-free guidance scale (10).
        negative_prompt: the unconditional text of the guidance.
        prompt_prefix: prepended to the source and the target prompt.
        source_prompt: template of the text describing the input video; placeholders
            ``{people}``, ``{appearance}``, ``{prompt}`` (:data:`SOURCE_FIELDS`).
        restart_sampling: re-noise one interval and denoise again after each step but the last.
        downsample_factor: low band of the initial latent by bilinear down-sampling by this (4; 1 keeps it whole).
        height, width: the size DMT works at (320 x 576, ZeroScope's).
        device: torch device, or ``"auto"`` (CUDA when available: GPU ``$LOCAL_RANK`` of the process).
        dtype: ``"auto"`` (float16 on CUDA as in the release, float32 otherwise) or a torch dtype name.
    """

    model: str = ZEROSCOPE_MODEL
    num_inference_steps: int = 50
    inversion_steps: int = 999
    max_guidance_timestep: float = 1.0
    min_guidance_timestep: float = 0.6
    optimization_steps: int = 10
    lr_range: tuple[float, float] = (0.007, 0.004)
    guidance_scale: float = 10.0
    negative_prompt: str = NEGATIVE_PROMPT
    prompt_prefix: str = PROMPT_PREFIX
    source_prompt: str = SOURCE_PROMPT
    restart_sampling: bool = True
    downsample_factor: int = 4
    height: int = 320
    width: int = 576
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        check_pipeline_options(self)
        for name in ("num_inference_steps", "inversion_steps", "downsample_factor", "height", "width"):
            positive_int(getattr(self, name), f"dmt option {name}", MethodError)
        positive_int(self.optimization_steps, "dmt option optimization_steps", MethodError, minimum=0)
        low = finite_number(self.min_guidance_timestep, "dmt option min_guidance_timestep", MethodError)
        high = finite_number(self.max_guidance_timestep, "dmt option max_guidance_timestep", MethodError)
        if not 0.0 <= low <= high <= 1.0:
            raise MethodError(
                "dmt options need 0 <= min_guidance_timestep <= max_guidance_timestep <= 1, got "
                f"min_guidance_timestep={low}, max_guidance_timestep={high}"
            )
        for lr in self.lr_range:
            if finite_number(lr, "dmt option lr_range", MethodError) <= 0:
                raise MethodError(
                    f"dmt option lr_range must hold two positive learning rates, got {list(self.lr_range)}"
                )
        if finite_number(self.guidance_scale, "dmt option guidance_scale", MethodError) < 0:
            raise MethodError(f"dmt option guidance_scale must be >= 0, got {self.guidance_scale}")
        unknown = sorted(_template_fields(self.source_prompt) - set(SOURCE_FIELDS))
        if unknown:
            raise MethodError(
                f"dmt option source_prompt uses {{{unknown[0]}}}, which is not one of {sorted(SOURCE_FIELDS)}"
            )
        if self.height % 8 or self.width % 8:
            raise MethodError(f"dmt options height and width must be multiples of 8, got {self.height}x{self.width}")


def source_prompt(template: str, request: GenerationRequest) -> str:
    """The source prompt of ``request`` from ``template`` (placeholders in :data:`SOURCE_FIELDS`)."""
    count = len(request.appearance_prompts)
    people = _COUNTS.get(count, f"{count} people") if count else "people"
    return template.format(people=people, appearance="; ".join(request.appearance_prompts), prompt=request.prompt)


class DMT(PipelineMethod):
    """Space-time feature guided motion transfer (Yatim et al., CVPR 2024) on ZeroScope.

    The pipeline loads on the first :meth:`generate` (or :meth:`load`).
    """

    name: ClassVar[str] = "dmt"
    requires: ClassVar[frozenset[str]] = frozenset({"prompt", "condition"})

    Options = DMTOptions

    def options_dict(self) -> dict[str, Any]:
        """The options plus what they imply, under ``provenance`` (guided steps, resize rules)."""
        from .schedule import guidance_split

        opts = self.options
        # guidance_split selects by position, so any descending schedule of the right length counts the steps
        schedule = list(range(opts.num_inference_steps, 0, -1))
        _, guided = guidance_split(schedule, opts.max_guidance_timestep, opts.min_guidance_timestep)
        return {
            **dataclasses.asdict(opts),
            "provenance": {
                "guided_steps": len(guided),
                "inverted_latents_kept": len(guided) + 1,
                "input_resize": f"{INPUT_RESIZE_RULE} ({opts.width}x{opts.height})",
                "output_uint8": "clamp to [0, 1], times 255, truncated (the release's tensor2vid)",
                "output_resize": OUTPUT_RESIZE_RULE,
            },
        }

    def open_pipeline(self, source: WeightsSource, dtype):
        """The ZeroScope base as a :class:`DMTPipeline` (the ``hf download`` is named when it is missing)."""
        from .pipeline import DMTPipeline

        require_local(source, "ZeroScope base", DOWNLOAD_HINT)
        try:
            return DMTPipeline.from_pretrained(source.pretrained, dtype=dtype, revision=source.revision)
        except (OSError, ValueError) as exc:
            raise missing_base(self.options.model, exc) from exc

    def prompts(self, request: GenerationRequest) -> tuple[str, str]:
        """``(source prompt, target prompt)`` of a request, prefix included."""
        prefix = self.options.prompt_prefix
        return prefix + source_prompt(self.options.source_prompt, request), prefix + request.prompt

    def generate(self, request: GenerationRequest) -> np.ndarray:
        """Transfer the motion of ``request.condition`` to ``request.prompt``.

        Returns:
            uint8 ``(num_frames, height, width, 3)``; the same request and seed give the same video.

        Raises:
            MethodError: the request lacks prompt or condition, the condition is not a uint8
                ``(T, H, W, 3)`` video, or its frame count differs from ``request.num_frames``.
        """
        import torch

        from ...video import check_frames, resize

        # 1. Check the request
        self.check_request(request)
        where = f"clip {request.clip_id}: request.condition"
        try:
            condition = check_frames(request.condition, where)
        except VideoError as exc:
            raise MethodError(str(exc)) from exc
        if condition.shape[0] != request.num_frames:
            raise MethodError(f"{where} has {condition.shape[0]} frames, request.num_frames is {request.num_frames}")
        # 2. Motion transfer with a CPU generator seeded by the request (same video on any device)
        opts = self.options
        source, target = self.prompts(request)
        output = self.pipeline(
            target,
            source,
            condition,
            negative_prompt=opts.negative_prompt,
            num_inference_steps=opts.num_inference_steps,
            inversion_steps=opts.inversion_steps,
            max_guidance_timestep=opts.max_guidance_timestep,
            min_guidance_timestep=opts.min_guidance_timestep,
            optimization_steps=opts.optimization_steps,
            lr_range=opts.lr_range,
            guidance_scale=opts.guidance_scale,
            restart_sampling=opts.restart_sampling,
            downsample_factor=opts.downsample_factor,
            height=opts.height,
            width=opts.width,
            generator=torch.Generator().manual_seed(request.seed),
        )
        # 3. To uint8 as the release does, then to the requested size
        frames = (np.clip(output.frames[0], 0.0, 1.0) * 255.0).astype(np.uint8)
        return resize(frames, request.height, request.width)
