"""The ``amg`` method: :class:`AMGPipeline` behind :meth:`Method.generate`.

Options follow the release's inference (``configs/applications/*/demo.yaml``): 20 DDIM steps,
guidance 3.0, 256 x 256, eta 0. The pipeline folder comes from ``amg-bench convert amg`` (the
released checkpoint) or ``amg-bench train amg``.
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

#: Where ``amg-bench convert amg ... --out`` puts the pipeline unless told otherwise.
DEFAULT_MODEL = "weights/amg"


@dataclass
class AMGOptions:
    """Options of the ``amg`` method (``baselines/amg.yaml`` holds the same defaults).

    Attributes:
        model: folder of an AMG pipeline written by ``AMGPipeline.save_pretrained``, or
            ``hub:<owner>/<name>`` for one on the Hub (:mod:`amg_bench.methods.weights`).
        num_inference_steps: DDIM steps (release: 20).
        guidance_scale: classifier-free guidance scale (release: 3.0).
        height, width: the size the model generates at (release: 256 x 256); the output is
            resized to the request's size when that differs.
        device: torch device, or ``"auto"`` (CUDA when available: GPU ``$LOCAL_RANK`` of the process).
        dtype: ``"auto"`` (float16 on CUDA, float32 otherwise) or a torch dtype name.
    """

    model: str = DEFAULT_MODEL
    num_inference_steps: int = 20
    guidance_scale: float = 3.0
    height: int = 256
    width: int = 256
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        check_pipeline_options(self)
        for name in ("num_inference_steps", "height", "width"):
            positive_int(getattr(self, name), f"amg option {name}", MethodError)
        if self.guidance_scale < 0:
            raise MethodError(f"amg option guidance_scale must be >= 0, got {self.guidance_scale}")


class AMG(PipelineMethod):
    """Avatar-motion-guided generation (Yang et al., arXiv 2409.01502): ModelScope T2V + avatar latent.

    The pipeline loads on the first :meth:`generate` (or :meth:`load`).
    """

    name: ClassVar[str] = "amg"
    requires: ClassVar[frozenset[str]] = frozenset({"prompt", "condition"})

    Options = AMGOptions

    def open_pipeline(self, source: WeightsSource, dtype):
        """The :class:`AMGPipeline` folder written by ``convert amg`` or ``train amg``."""
        from .pipeline import AMGPipeline

        opts = self.options
        make = (
            "download the released checkpoint (non_ema_0640000.pth, Google Drive link in the README of "
            "github.com/zshyang/amg) and run `amg-bench convert amg non_ema_0640000.pth --base "
            f"hub:damo-vilab/text-to-video-ms-1.7b --out {opts.model}`, or train one with `amg-bench train amg`"
        )
        require_local(source, "AMG pipeline", f"to make it, {make}")
        try:
            return AMGPipeline.from_pretrained(source.pretrained, dtype=dtype, revision=source.revision)
        except MissingWeightsError as exc:
            raise MissingWeightsError(f"{exc}. To make an AMG pipeline folder, {make}") from exc

    def generate(self, request: GenerationRequest) -> np.ndarray:
        """Generate ``request.num_frames`` frames following ``request.condition``.

        Returns:
            uint8 ``(num_frames, height, width, 3)``; the same request and seed give the same video.

        Raises:
            MethodError: the request lacks prompt or condition, or the condition's frame count
                differs from ``request.num_frames``.
        """
        import torch

        from ...video import check_frames, resize

        # 1. Check the request
        self.check_request(request)
        condition = check_frames(request.condition, f"condition of clip {request.clip_id}")
        if condition.shape[0] != request.num_frames:
            raise MethodError(
                f"clip {request.clip_id}: condition has {condition.shape[0]} frames, request.num_frames is "
                f"{request.num_frames}"
            )
        # 2. Sample with a CPU generator seeded by the request (same video on any device)
        opts = self.options
        generator = torch.Generator().manual_seed(request.seed)
        output = self.pipeline(
            request.prompt,
            condition,
            num_inference_steps=opts.num_inference_steps,
            guidance_scale=opts.guidance_scale,
            generator=generator,
            height=opts.height,
            width=opts.width,
        )
        # 3. To uint8 at the requested size
        frames = (np.clip(output.frames[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)
        return resize(frames, request.height, request.width)
