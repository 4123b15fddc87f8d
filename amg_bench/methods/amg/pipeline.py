"""``AMGPipeline``: text + avatar-render video -> video, as the AMG release samples it.

Follows the release (``amg/applications/*.py``, ``diffusion_ddim.py``): frames are centre-cropped
to the output aspect and resized (the release's ``CenterCropWide``; square 256 by default),
scaled to [-1, 1], VAE-encoded frame by frame with the posterior *sampled* and multiplied by
the VAE scale (0.18215); the condition latent is concatenated after the noisy latent on the
channel axis; classifier-free guidance runs the same UNet input with the prompt and with the
empty-text embedding (only the text differs, the condition stays), ``u + s (c - u)``, scale 3;
DDIM with eta 0, 20 steps. Latents are decoded in chunks of 8 frames like the release.

Folder layout (``save_pretrained`` / ``from_pretrained``): the ms-1.7b layout
(``unet/ text_encoder/ tokenizer/ vae/ scheduler/ model_index.json``) where ``unet/`` is a stock
``UNet3DConditionModel`` with ``in_channels=8`` (widened conv included), plus ``unet_lora/``:
peft's ``adapter_config.json`` and ``adapter_model.safetensors`` with the LoRA matrices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet3DConditionModel
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor
from peft import LoraConfig
from safetensors.torch import load_file, save_file
from transformers import CLIPTextModel, CLIPTokenizer

from ...errors import MethodError, MissingWeightsError
from ...video import check_frames, resize
from .components import load_base_components
from .unet import (
    ADAPTER_NAME,
    AMG_IN_CHANNELS,
    LORA_RANK,
    add_lora,
    load_lora_state_dict,
    lora_config,
    lora_detached,
    lora_layers,
    lora_state_dict,
    make_amg_unet,
)

LORA_FOLDER = "unet_lora"
LORA_WEIGHTS = "adapter_model.safetensors"
LORA_CONFIG = "adapter_config.json"
#: Frames the VAE encodes / decodes at once (the release decodes 8 at a time).
CHUNK_FRAMES = 8


@dataclass
class AMGPipelineOutput(BaseOutput):
    """``frames``: float in [0, 1] ``(B, T, H, W, 3)`` for ``"np"``, ``(B, T, 3, H, W)`` for ``"pt"``,
    or the final latents ``(B, 4, T, h, w)`` for ``"latent"``."""

    frames: Any


def center_crop_to_aspect(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop the largest centred ``height:width`` window of every frame and resize it to that size.

    For a square output this is the release's centre-crop-then-resize to 256 x 256.
    """
    frames = check_frames(frames, "condition_video")
    h, w = frames.shape[1:3]
    if w * height > h * width:
        crop_h, crop_w = h, max(1, round(h * width / height))
    else:
        crop_h, crop_w = max(1, round(w * height / width)), w
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return resize(frames[:, top : top + crop_h, left : left + crop_w], height, width)


class AMGPipeline(DiffusionPipeline):
    """The ModelScope components with the AMG UNet (8-channel ``conv_in`` + LoRA)."""

    model_cpu_offload_seq = "text_encoder->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet3DConditionModel,
        scheduler: DDIMScheduler,
    ) -> None:
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.video_processor = VideoProcessor(do_resize=False, vae_scale_factor=self.vae_scale_factor)

    # ------------------------------------------------------------------ construction / IO
    @classmethod
    def from_base(cls, base: str | os.PathLike, rank: int = LORA_RANK, dtype=None) -> AMGPipeline:
        """Fresh AMG from the ModelScope base: widened conv (new channels zero) and new LoRA (up zero).

        Raises:
            MissingWeightsError: the base cannot be found locally.
        """
        components = load_base_components(base, dtype=dtype)
        make_amg_unet(components["unet"], rank)
        return cls(**components)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write the pipeline folder: stock components plus ``unet_lora/`` (safetensors)."""
        layers = lora_layers(self.unet)
        if not layers:
            raise MethodError("the UNet has no LoRA layers; build the pipeline with AMGPipeline.from_base")
        with lora_detached(self.unet):
            super().save_pretrained(save_directory, safe_serialization=True, **kwargs)
        lora_dir = Path(save_directory) / LORA_FOLDER
        lora_dir.mkdir(parents=True, exist_ok=True)
        rank = layers[0].r[ADAPTER_NAME]
        lora_config(rank).save_pretrained(str(lora_dir))
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in lora_state_dict(self.unet).items()}
        save_file(state, str(lora_dir / LORA_WEIGHTS), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> AMGPipeline:
        """Load a folder written by :meth:`save_pretrained` (local path or Hub id).

        Raises:
            MissingWeightsError: the folder, a component or the LoRA files are missing.
        """
        source = str(pretrained_model_name_or_path)
        if not Path(source).is_dir() and source.count("/") != 1:
            raise MissingWeightsError(f"AMG pipeline {source!r} is neither a folder nor a Hub repo id")
        try:
            pipe = super().from_pretrained(source, **kwargs)
        except OSError as exc:
            raise MissingWeightsError(f"cannot load the AMG pipeline {source!r}: {exc}") from exc
        if pipe.unet.config.in_channels != AMG_IN_CHANNELS:
            raise MethodError(
                f"{source}: unet in_channels is {pipe.unet.config.in_channels}, an AMG pipeline has "
                f"{AMG_IN_CHANNELS}; convert a checkpoint with `amg-bench convert amg` first"
            )
        config_path = _pipeline_file(source, f"{LORA_FOLDER}/{LORA_CONFIG}", kwargs)
        weights_path = _pipeline_file(source, f"{LORA_FOLDER}/{LORA_WEIGHTS}", kwargs)
        config = LoraConfig.from_pretrained(str(config_path.parent))
        add_lora(pipe.unet, rank=config.r)
        state = load_file(str(weights_path), device=str(pipe.unet.device))
        missing = load_lora_state_dict(pipe.unet, state)
        if missing:
            raise MissingWeightsError(f"{weights_path} lacks {len(missing)} LoRA tensors, e.g. {missing[:3]}")
        return pipe

    # ------------------------------------------------------------------ stages
    def check_inputs(
        self,
        prompt: Any,
        condition_video: Any,
        condition_latents: Any,
        height: int,
        width: int,
        guidance_scale: float,
        num_inference_steps: int,
    ) -> None:
        if not isinstance(prompt, str):
            raise MethodError(f"prompt must be a string, got {type(prompt).__name__}")
        if (condition_video is None) == (condition_latents is None):
            raise MethodError("pass exactly one of condition_video and condition_latents")
        if condition_video is not None:
            check_frames(condition_video, "condition_video")
        if height % self.vae_scale_factor or width % self.vae_scale_factor:
            raise MethodError(f"height and width must be multiples of {self.vae_scale_factor}, got {height}x{width}")
        if num_inference_steps < 1:
            raise MethodError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if guidance_scale < 0:
            raise MethodError(f"guidance_scale must be >= 0, got {guidance_scale}")

    def default_size(self) -> tuple[int, int]:
        """Output size when none is given: the UNet's sample size in pixels (256 for ms-1.7b)."""
        side = (self.unet.config.sample_size or 32) * self.vae_scale_factor
        return side, side

    def encode_prompt(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        """Text features ``(B, L, D)``: the text encoder's last hidden state, after its final layer norm.

        Prompts are padded to the tokenizer length, with no padding mask (as OpenCLIP). The ms-1.7b
        ``CLIPTextModel`` keeps the first 23 of OpenCLIP ViT-H's 24 layers and ``ln_final`` as
        ``final_layer_norm``, so this is the release's "penultimate" feature: the output of layer 23,
        then ``ln_final``. The unconditional branch encodes the empty text ``""``.
        """
        tokens = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        return self.text_encoder(tokens.input_ids.to(device))[0]

    def preprocess_video(self, frames: np.ndarray, height: int, width: int) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` -> float ``(T, 3, height, width)`` in [-1, 1] (centre crop + resize)."""
        frames = center_crop_to_aspect(frames, height, width)
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        return tensor.float().div(127.5).sub(1.0)

    def encode_video(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """VAE posterior *sample* times the VAE scale: ``(T, 3, H, W)`` -> ``(1, 4, T, H/f, W/f)``."""
        vae = self.vae
        pixels = pixels.to(device=vae.device, dtype=vae.dtype)
        latents = [vae.encode(chunk).latent_dist.sample(generator=generator) for chunk in pixels.split(CHUNK_FRAMES)]
        latents = torch.cat(latents) * vae.config.scaling_factor
        return latents.permute(1, 0, 2, 3).unsqueeze(0)

    def prepare_latents(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None,
        latents: torch.Tensor | None,
    ) -> torch.Tensor:
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != tuple(shape):
            raise MethodError(f"latents must be shaped {tuple(shape)}, got {tuple(latents.shape)}")
        return latents.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, 4, T, h, w)`` latents -> float video ``(B, 3, T, H, W)`` in about [-1, 1]."""
        batch, channels, frames, height, width = latents.shape
        flat = (latents / self.vae.config.scaling_factor).permute(0, 2, 1, 3, 4).reshape(-1, channels, height, width)
        flat = flat.to(self.vae.dtype)
        images = torch.cat([self.vae.decode(chunk).sample for chunk in flat.split(CHUNK_FRAMES)])
        video = images.reshape(batch, frames, *images.shape[1:]).permute(0, 2, 1, 3, 4)
        return video.float()

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        prompt: str,
        condition_video: np.ndarray | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 3.0,
        generator: torch.Generator | None = None,
        *,
        height: int | None = None,
        width: int | None = None,
        condition_latents: torch.Tensor | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> AMGPipelineOutput | tuple:
        """Generate one video following ``condition_video`` (uint8 ``(T, H, W, 3)``, any size).

        Steps: check inputs; encode prompt and empty text; encode the condition (RNG: the
        condition's posterior sample is drawn first, then the initial noise, both from
        ``generator``); DDIM loop with guidance; decode.

        Raises:
            MethodError / VideoError: a bad argument, named with the value received.
        """
        # 1. Check inputs
        default_h, default_w = self.default_size()
        height, width = height or default_h, width or default_w
        self.check_inputs(
            prompt, condition_video, condition_latents, height, width, guidance_scale, num_inference_steps
        )
        device = self._execution_device
        do_guidance = guidance_scale > 1.0

        # 2. Encode the prompt; the unconditional branch is the empty text
        prompt_embeds = self.encode_prompt([prompt, ""] if do_guidance else [prompt], device)
        if do_guidance:
            cond_embeds, uncond_embeds = prompt_embeds.chunk(2)
            prompt_embeds = torch.cat([uncond_embeds, cond_embeds])
        prompt_embeds = prompt_embeds.to(self.unet.dtype)

        # 3. Encode the avatar condition
        if condition_latents is None:
            pixels = self.preprocess_video(condition_video, height, width)
            condition_latents = self.encode_video(pixels, generator)
        condition_latents = condition_latents.to(device=device, dtype=self.unet.dtype)
        num_frames = condition_latents.shape[2]
        latent_shape = (
            1,
            self.vae.config.latent_channels,
            num_frames,
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )
        if tuple(condition_latents.shape) != latent_shape:
            raise MethodError(f"condition_latents must be shaped {latent_shape}, got {tuple(condition_latents.shape)}")

        # 4. Timesteps and initial noise
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = self.prepare_latents(latent_shape, self.unet.dtype, device, generator, latents)
        condition_input = torch.cat([condition_latents] * 2) if do_guidance else condition_latents

        # 5. Denoising loop: both branches get the same condition, only the text differs
        for t in self.progress_bar(self.scheduler.timesteps):
            noisy = torch.cat([latents] * 2) if do_guidance else latents
            model_input = torch.cat([self.scheduler.scale_model_input(noisy, t), condition_input], dim=1)
            noise_pred = self.unet(model_input, t, encoder_hidden_states=prompt_embeds, return_dict=False)[0]
            if do_guidance:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(noise_pred, t, latents, eta=0.0).prev_sample

        # 6. Decode
        if output_type == "latent":
            video = latents
        else:
            video = self.video_processor.postprocess_video(self.decode_latents(latents), output_type=output_type)
        self.maybe_free_model_hooks()
        return AMGPipelineOutput(frames=video) if return_dict else (video,)


def _pipeline_file(source: str, relative: str, kwargs: dict[str, Any]) -> Path:
    """A file of a pipeline folder: local path, or downloaded from the Hub (or its cache)."""
    local = Path(source) / relative
    if Path(source).is_dir():
        if not local.is_file():
            raise MissingWeightsError(f"{local} is missing; the folder was not written by AMGPipeline.save_pretrained")
        return local
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(source, relative, revision=kwargs.get("revision"), cache_dir=kwargs.get("cache_dir"))
        )
    except (OSError, ValueError) as exc:
        raise MissingWeightsError(f"cannot fetch {relative} of {source!r}: {exc}") from exc
