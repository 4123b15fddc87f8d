"""The ``amg`` method: :class:`AMGPipeline` behind :meth:`Method.generate`.

Options follow the release's inference (``configs/applications/*/demo.yaml``): 20 DDIM steps,
guidance 3.0, 256 x 256, eta 0. The pipeline folder comes from ``amg-bench convert amg`` (the
released checkpoint) or ``amg-bench train amg``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...errors import MethodError, MissingWeightsError
from ..base import GenerationRequest, Method

#: Where ``amg-bench convert amg ... --out`` puts the pipeline unless told otherwise.
DEFAULT_MODEL = "weights/amg"
_DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass
class AMGOptions:
    """Options of the ``amg`` method (``baselines/amg.yaml`` holds the same defaults).

    Attributes:
        model: folder (or Hub id) of an AMG pipeline written by ``AMGPipeline.save_pretrained``.
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
        if self.dtype not in _DTYPES:
            raise MethodError(f"amg option dtype must be one of {_DTYPES}, got {self.dtype!r}")
        for name in ("num_inference_steps", "height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise MethodError(f"amg option {name} must be a positive integer, got {value!r}")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> AMGOptions:
        """Read options from a YAML mapping (e.g. ``baselines/amg.yaml``).

        Raises:
            MethodError: unreadable file, not a mapping, or unknown option names.
        """
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise MethodError(f"cannot read amg options {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise MethodError(f"amg options {path} must be a mapping, got {type(data).__name__}")
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "options") -> AMGOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MethodError(f"unknown amg option(s) {unknown} in {where}; known: {sorted(known)}")
        return cls(**data)


class AMG(Method):
    """Avatar-motion-guided generation (Yang et al., arXiv 2409.01502): ModelScope T2V + avatar latent.

    The pipeline loads on the first :meth:`generate` (or :meth:`load`).
    """

    name: ClassVar[str] = "amg"
    requires: ClassVar[frozenset[str]] = frozenset({"prompt", "condition"})

    def __init__(self, **options: Any) -> None:
        self._options = AMGOptions.from_dict(options)
        self._pipeline = None

    @property
    def pipeline(self):
        """The loaded :class:`AMGPipeline` (loads it on first use)."""
        if self._pipeline is None:
            self._pipeline = self.load()
        return self._pipeline

    def _device_and_dtype(self):
        import torch

        opts = self._options
        if opts.device != "auto":
            device = torch.device(opts.device)
        elif torch.cuda.is_available():  # one GPU per process under `accelerate launch` / torchrun
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        else:
            device = torch.device("cpu")
        if opts.dtype == "auto":
            dtype = torch.float16 if device.type == "cuda" else torch.float32
        else:
            dtype = getattr(torch, opts.dtype)
        return device, dtype

    def load(self):
        """Load the pipeline folder named by the ``model`` option onto the device.

        Raises:
            MissingWeightsError: the folder does not exist (the message says how to make it).
        """
        from .pipeline import AMGPipeline

        model = self._options.model
        device, dtype = self._device_and_dtype()
        try:
            pipe = AMGPipeline.from_pretrained(model, dtype=dtype)
        except MissingWeightsError as exc:
            raise MissingWeightsError(
                f"{exc}. To make the folder, download the released checkpoint (non_ema_0640000.pth, Google Drive "
                "link in the README of github.com/zshyang/amg) and run `amg-bench convert amg non_ema_0640000.pth "
                f"--base damo-vilab/text-to-video-ms-1.7b --out {model}`, or train one with `amg-bench train amg`"
            ) from exc
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

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
        opts = self._options
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
