"""The ``magicanimate`` method: :class:`MagicAnimatePipeline` behind :meth:`Method.generate`.

As in the AMG paper's comparison: the reference image is the clip's first real frame and the
driving video is the clip's ``pose_video`` (DensePose convention, :mod:`amg_bench.data.densepose`).
Options follow the release's ``configs/prompts/animation.yaml``: 25 DDIM steps, guidance 7.5,
512 x 512, 16-frame windows overlapping by 4, ControlNet scale 1. The output is converted to
uint8 as the release saves it (``x * 255`` truncated) and resized to the request's size. The
text prompt is never read (``uses_prompt = False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...checks import positive_int
from ...errors import MethodError, MissingWeightsError
from ..base import GenerationRequest
from ..pipeline_method import PipelineMethod, check_pipeline_options
from ..weights import WeightsSource, require_local

#: Where ``amg-bench convert magicanimate ... --out`` puts the pipeline unless told otherwise.
DEFAULT_MODEL = "weights/magicanimate"

CONVERT_HINT = (
    "download the release with `hf download zcxu-eric/MagicAnimate --local-dir CKPT_DIR`, Stable Diffusion 1.5 "
    "with `hf download stable-diffusion-v1-5/stable-diffusion-v1-5` and the VAE with "
    "`hf download stabilityai/sd-vae-ft-mse` (both into the Hugging Face cache), then run "
    "`amg-bench convert magicanimate CKPT_DIR --out {model}`"
)


@dataclass
class MagicAnimateOptions:
    """Options of the ``magicanimate`` method (``baselines/magicanimate.yaml`` holds the same defaults).

    Attributes:
        model: folder written by ``amg-bench convert magicanimate``, or ``hub:<owner>/<name>``.
        num_inference_steps: DDIM steps (release: 25).
        guidance_scale: classifier-free guidance scale (release: 7.5).
        size: the square side the model generates at (release: 512); inputs are resized to it,
            the output back to the request's size.
        context_frames, context_overlap: the sliding windows (release: 16 and 4).
        controlnet_conditioning_scale: weight of the pose ControlNet's residuals (release: 1.0).
        device: torch device, or ``"auto"`` (CUDA when available: GPU ``$LOCAL_RANK`` of the process).
        dtype: ``"auto"`` (float16 on CUDA, as the release runs, float32 otherwise) or a torch dtype name.
    """

    model: str = DEFAULT_MODEL
    num_inference_steps: int = 25
    guidance_scale: float = 7.5
    size: int = 512
    context_frames: int = 16
    context_overlap: int = 4
    controlnet_conditioning_scale: float = 1.0
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        check_pipeline_options(self)
        for name in ("num_inference_steps", "size", "context_frames"):
            positive_int(getattr(self, name), f"magicanimate option {name}", MethodError)
        if self.size % 8:
            raise MethodError(f"magicanimate option size must be a multiple of 8, got {self.size}")
        if not 0 <= self.context_overlap < self.context_frames:
            raise MethodError(
                f"magicanimate option context_overlap must be in [0, {self.context_frames}), got {self.context_overlap}"
            )
        for name in ("guidance_scale", "controlnet_conditioning_scale"):
            if getattr(self, name) < 0:
                raise MethodError(f"magicanimate option {name} must be >= 0, got {getattr(self, name)}")


class MagicAnimate(PipelineMethod):
    """MagicAnimate (Xu et al., CVPR 2024): the first real frame animated by the clip's DensePose video.

    The pipeline loads on the first :meth:`generate` (or :meth:`load`).
    """

    name: ClassVar[str] = "magicanimate"
    requires: ClassVar[frozenset[str]] = frozenset({"reference_frame", "pose"})
    uses_prompt: ClassVar[bool] = False

    Options = MagicAnimateOptions

    def open_pipeline(self, source: WeightsSource, dtype):
        """The :class:`MagicAnimatePipeline` folder written by ``convert magicanimate``."""
        from .pipeline import MagicAnimatePipeline

        make = CONVERT_HINT.format(model=self.options.model)
        require_local(source, "MagicAnimate pipeline", f"to make it, {make}")
        try:
            return MagicAnimatePipeline.from_pretrained(source.pretrained, dtype=dtype, revision=source.revision)
        except MissingWeightsError as exc:
            raise MissingWeightsError(f"{exc}. To make a MagicAnimate pipeline folder, {make}") from exc

    def check_request(self, request: GenerationRequest) -> None:
        """Raise :class:`MethodError` for a request without a reference frame or a pose video."""
        missing = request.missing(self.requires)
        if "pose" in missing:
            raise MethodError(
                f"method 'magicanimate' needs a DensePose video (dataset column 'pose_video') but clip "
                f"{request.clip_id} has none: build the dataset with --pose-video, or give each source a DensePose "
                "video (manifest key pose_video)"
            )
        super().check_request(request)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        """Animate ``request.reference_frame`` with ``request.pose``.

        Returns:
            uint8 ``(num_frames, height, width, 3)``; the same request and seed give the same video.

        Raises:
            MethodError: the request lacks the reference frame or the pose video, or the pose
                video's frame count differs from ``request.num_frames``.
        """
        import torch

        from ...video import check_frames, resize

        # 1. Check the request
        self.check_request(request)
        pose = check_frames(request.pose, f"pose of clip {request.clip_id}")
        if pose.shape[0] != request.num_frames:
            raise MethodError(
                f"clip {request.clip_id}: pose video has {pose.shape[0]} frames, request.num_frames is "
                f"{request.num_frames}"
            )
        reference = check_frames(
            np.asarray(request.reference_frame)[None], f"reference frame of clip {request.clip_id}"
        )[0]
        # 2. Sample with a CPU generator seeded by the request (same video on any device)
        opts = self.options
        output = self.pipeline(
            reference,
            pose,
            num_inference_steps=opts.num_inference_steps,
            guidance_scale=opts.guidance_scale,
            generator=torch.Generator().manual_seed(request.seed),
            size=opts.size,
            context_frames=opts.context_frames,
            context_overlap=opts.context_overlap,
            controlnet_conditioning_scale=opts.controlnet_conditioning_scale,
        )
        # 3. To uint8 as the release saves it, at the requested size
        frames = (np.clip(output.frames[0], 0.0, 1.0) * 255.0).astype(np.uint8)
        return resize(frames, request.height, request.width)
