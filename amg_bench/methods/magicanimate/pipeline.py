"""``MagicAnimatePipeline``: a reference image + a DensePose video -> a video, as the release samples it.

Follows ``pipelines/animation.py`` and ``pipelines/pipeline_animation.py``:

1. the reference image and every pose frame are resized to ``size`` x ``size`` (PIL bicubic,
   Pillow's default filter; non-square inputs are distorted, not cropped) and the pose video is
   padded with its last frame to a multiple of ``context_frames``;
2. the prompt and the negative prompt are both the empty string, so one text embedding serves
   every branch;
3. the reference latent is the VAE posterior *mean* times the VAE scale (0.18215);
4. the initial noise is one ``context_frames`` block, tiled along time;
5. every DDIM step (the release's settings, :mod:`.components`): the appearance encoder runs
   once on the reference latent at the step's timestep and fills the reference bank; the pose
   ControlNet runs on every frame (pose / 255, the conditional text, scale 1), its residuals
   shared by both guidance branches; the motion UNet runs on every window of
   :func:`~.windows.context_windows` with the unconditional and conditional branches batched
   (only the conditional one attends to the reference); each frame's noise is averaged over its
   windows, then guided ``u + s (c - u)`` with s = 7.5; eta 0;
6. frames are decoded by the VAE, mapped to [0, 1], and trimmed to the input length.

Folder layout (``save_pretrained`` / ``from_pretrained``, written by ``amg-bench convert
magicanimate``): ``unet/`` (``UNetMotionModel``), ``appearance_encoder/``
(``UNet2DConditionModel``), ``controlnet/`` (``ControlNetModel``), ``vae/``,
``text_encoder/``, ``tokenizer/``, ``scheduler/``, ``model_index.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DDIMScheduler,
    DiffusionPipeline,
    UNet2DConditionModel,
    UNetMotionModel,
)
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from ...errors import MethodError, MissingWeightsError
from ...video import check_frames
from .motion_unet import use_release_norms
from .reference_attention import install_reference_attention
from .windows import check_window, context_windows, pad_frames, window_counts

#: Frames the VAE decodes at once (the release decodes one at a time; the result is the same).
DECODE_CHUNK = 8


@dataclass
class MagicAnimatePipelineOutput(BaseOutput):
    """``frames``: float in [0, 1], ``(1, T, H, W, 3)`` for ``"np"``, ``(1, T, 3, H, W)`` for ``"pt"``;
    or the final latents ``(1, 4, T_padded, h, w)`` for ``"latent"``."""

    frames: Any


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(H, W, 3)`` -> ``(size, size, 3)`` with PIL's bicubic filter, as the release resizes."""
    from PIL import Image

    if image.shape[:2] == (size, size):
        return image
    return np.array(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))


class MagicAnimatePipeline(DiffusionPipeline):
    """SD 1.5 + AnimateDiff v1 motion UNet, appearance encoder with reference attention, DensePose ControlNet."""

    model_cpu_offload_seq = "text_encoder->appearance_encoder->controlnet->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNetMotionModel,
        controlnet: ControlNetModel,
        appearance_encoder: UNet2DConditionModel,
        scheduler: DDIMScheduler,
    ) -> None:
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            controlnet=controlnet,
            appearance_encoder=appearance_encoder,
            scheduler=scheduler,
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        use_release_norms(self.unet)
        self.reference_bank = install_reference_attention(self.unet, self.appearance_encoder)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> MagicAnimatePipeline:
        """Load a folder written by :meth:`save_pretrained` (local path or Hub id).

        Raises:
            MissingWeightsError: the folder or one of its components is missing.
        """
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except OSError as exc:
            raise MissingWeightsError(
                f"cannot load the MagicAnimate pipeline {str(pretrained_model_name_or_path)!r}: {exc}"
            ) from exc

    # ------------------------------------------------------------------ stages
    def default_size(self) -> int:
        """The UNet's sample size in pixels (512 for SD 1.5)."""
        return (self.unet.config.sample_size or 64) * self.vae_scale_factor

    def check_inputs(
        self,
        reference_image: Any,
        pose_video: Any,
        num_inference_steps: int,
        guidance_scale: float,
        size: int,
        context_frames: int,
        context_overlap: int,
    ) -> None:
        if not isinstance(reference_image, np.ndarray) or reference_image.dtype != np.uint8:
            raise MethodError(f"reference_image must be a uint8 numpy array, got {type(reference_image).__name__}")
        if reference_image.ndim != 3 or reference_image.shape[-1] != 3 or 0 in reference_image.shape:
            raise MethodError(f"reference_image must be shaped (H, W, 3), got {tuple(reference_image.shape)}")
        check_frames(pose_video, "pose_video")
        if size < 1 or size % self.vae_scale_factor:
            raise MethodError(f"size must be a positive multiple of {self.vae_scale_factor}, got {size}")
        if num_inference_steps < 1:
            raise MethodError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if guidance_scale < 0:
            raise MethodError(f"guidance_scale must be >= 0, got {guidance_scale}")
        check_window(context_frames, context_overlap)
        longest = self.unet.config.motion_max_seq_length
        if context_frames > longest:
            raise MethodError(
                f"context_frames must be <= {longest} (the motion modules' position table), got {context_frames}"
            )

    def encode_prompt(self, device: torch.device) -> torch.Tensor:
        """Text-encoder last hidden states ``(1, L, D)`` of the empty prompt (the release's prompt and negative prompt)."""
        tokens = self.tokenizer(
            [""], padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        return self.text_encoder(tokens.input_ids.to(device))[0]

    def encode_reference(self, image: np.ndarray) -> torch.Tensor:
        """uint8 ``(H, W, 3)`` -> ``(1, 4, H/f, W/f)``: VAE posterior mean times the VAE scale."""
        vae = self.vae
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        pixels = pixels.to(device=vae.device, dtype=vae.dtype)
        return vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor

    def prepare_latents(
        self,
        num_frames: int,
        block: int,
        height: int,
        width: int,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None,
        latents: torch.Tensor | None,
    ) -> torch.Tensor:
        """``(1, 4, num_frames, h, w)``: one ``block``-frame noise draw tiled along time (or ``latents``)."""
        shape = (
            1,
            self.unet.config.in_channels,
            num_frames,
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )
        if latents is None:
            noise = randn_tensor((*shape[:2], block, *shape[3:]), generator=generator, device=device, dtype=dtype)
            latents = noise.repeat(1, 1, num_frames // block, 1, 1)
        elif tuple(latents.shape) != shape:
            raise MethodError(f"latents must be shaped {shape}, got {tuple(latents.shape)}")
        return latents.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma

    def pose_residuals(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        text: torch.Tensor,
        control: torch.Tensor,
        chunk: int,
        scale: float,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """ControlNet residuals of every frame: per down level ``(T, C, h, w)``, and the mid one.

        Frames go through in chunks of ``chunk`` (the release's windows without overlap); the
        ControlNet is per frame, so the chunking changes nothing but memory.
        """
        frames = latents[0].transpose(0, 1)  # (T, 4, h, w)
        frames = self.scheduler.scale_model_input(frames, t)
        downs, mids = [], []
        for start in range(0, len(frames), chunk):
            part = frames[start : start + chunk]
            down, mid = self.controlnet(
                part,
                t,
                encoder_hidden_states=text.expand(len(part), -1, -1),
                controlnet_cond=control[start : start + chunk],
                conditioning_scale=scale,
                return_dict=False,
            )
            downs.append(down)
            mids.append(mid)
        return [torch.cat(level) for level in zip(*downs)], torch.cat(mids)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``(1, 4, T, h, w)`` -> float ``(T, 3, H, W)`` in [0, 1]."""
        flat = (latents[0].transpose(0, 1) / self.vae.config.scaling_factor).to(self.vae.dtype)
        images = torch.cat([self.vae.decode(chunk).sample for chunk in flat.split(DECODE_CHUNK)])
        return (images.float() / 2 + 0.5).clamp(0, 1)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        reference_image: np.ndarray,
        pose_video: np.ndarray,
        num_inference_steps: int = 25,
        guidance_scale: float = 7.5,
        generator: torch.Generator | None = None,
        *,
        size: int | None = None,
        context_frames: int = 16,
        context_overlap: int = 4,
        controlnet_conditioning_scale: float = 1.0,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> MagicAnimatePipelineOutput | tuple:
        """Animate ``reference_image`` (uint8 ``(H, W, 3)``) with ``pose_video`` (uint8 ``(T, H', W', 3)``, DensePose).

        Returns ``T`` frames at ``size`` x ``size`` (default: the UNet's 512). ``latents``, if
        given, replaces the initial noise: ``(1, 4, T padded to context_frames, size/8, size/8)``.

        Raises:
            MethodError / VideoError: a bad argument, named with the value received.
        """
        # 1. Check inputs
        size = size or self.default_size()
        self.check_inputs(
            reference_image, pose_video, num_inference_steps, guidance_scale, size, context_frames, context_overlap
        )
        device = self._execution_device
        dtype = self.unet.dtype
        guided = guidance_scale > 1.0
        num_frames = len(pose_video)

        # 2. Resize as the release does; pad the pose video to whole noise blocks
        reference = resize_square(reference_image, size)
        pose = pad_frames(np.stack([resize_square(frame, size) for frame in pose_video]), context_frames)
        padded = len(pose)
        control = torch.from_numpy(pose).permute(0, 3, 1, 2).to(device=device, dtype=self.controlnet.dtype) / 255.0

        # 3. Encode the empty prompt and the reference image
        text = self.encode_prompt(device).to(dtype)
        reference_latents = self.encode_reference(reference).to(dtype)

        # 4. Timesteps, initial noise, windows
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = self.prepare_latents(padded, context_frames, size, size, dtype, device, generator, latents)
        windows = context_windows(padded, context_frames, context_overlap)
        counts = torch.from_numpy(window_counts(windows, padded)).to(device=device, dtype=dtype)
        branches = 2 if guided else 1
        bank = self.reference_bank

        # 5. Denoising loop
        for t in self.progress_bar(self.scheduler.timesteps):
            bank.clear()
            with bank.writing():
                self.appearance_encoder(reference_latents, t, encoder_hidden_states=text, return_dict=False)
            downs, mid = self.pose_residuals(latents, t, text, control, context_frames, controlnet_conditioning_scale)
            noise = torch.zeros((branches, *latents.shape[1:]), device=device, dtype=dtype)
            for window in windows:
                index = torch.tensor(window, device=device)
                model_input = self.scheduler.scale_model_input(latents[:, :, index].repeat(branches, 1, 1, 1, 1), t)
                with bank.reading(guided):
                    pred = self.unet(
                        model_input,
                        t,
                        encoder_hidden_states=text.repeat(branches * len(window), 1, 1),
                        down_block_additional_residuals=[level[index].repeat(branches, 1, 1, 1) for level in downs],
                        mid_block_additional_residual=mid[index].repeat(branches, 1, 1, 1),
                        return_dict=False,
                    )[0]
                noise.index_add_(2, index, pred)
            noise = noise / counts[None, None, :, None, None]
            if guided:
                uncond, cond = noise.chunk(2)
                noise = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(noise, t, latents, eta=0.0).prev_sample
        bank.clear()

        # 6. Decode and trim
        if output_type == "latent":
            frames = latents
        else:
            video = self.decode_latents(latents)[:num_frames]
            frames = video[None] if output_type == "pt" else video.permute(0, 2, 3, 1)[None].cpu().numpy()
        self.maybe_free_model_hooks()
        return MagicAnimatePipelineOutput(frames=frames) if return_dict else (frames,)
