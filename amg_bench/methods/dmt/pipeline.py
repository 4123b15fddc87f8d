"""``DMTPipeline``: zero-shot motion transfer from an input video to a target prompt, as the DMT release runs it.

Yatim et al., "Space-Time Diffusion Features for Zero-Shot Text-Driven Motion Transfer" (CVPR
2024); release ``run.py`` + ``preprocess_video_ddim.py`` + ``utilities/*``, on ZeroScope:

1. the input video is resized to 576 x 320 (PIL bicubic, stretched), scaled to [-1, 1] and
   VAE-encoded frame by frame (posterior sampled, times 0.18215);
2. DDIM inversion with the source prompt, no guidance, 999 steps (:mod:`.inversion`); only the
   latents at the guided timesteps and the last one are kept;
3. initial latent: the last inverted latent re-expressed at the first sampling timestep with a
   second posterior sample of the video latent (the release encodes the video again in
   ``run.py``), then its low band plus the high band of seeded noise (:mod:`.latents`);
4. 50 DDIM steps (eta 0); at each of the first 20, 10 Adam steps on the latent (fresh optimiser
   and ``GradScaler`` per step; lr ``linspace(0.007, 0.004, 20)[i]``) minimising the SMM
   difference loss (:mod:`.loss`) between the features (:mod:`.features`) of the latent with the
   target prompt and those of the inverted latent at that timestep with the source prompt, the
   UNet stopped after up block 1;
5. each step denoises with classifier-free guidance (scale 10, the negative prompt as the
   unconditional text) and, but for the last, re-noises back one interval and denoises again;
6. the VAE decodes frame by frame.

Differences from the release that do not change the algorithm: the inverted latents stay in
memory (no files), the latent is carried in float32 everywhere (CFG and DDIM arithmetic
included), model weights are frozen (the release also accumulates unused weight gradients), and
all randomness comes from one ``generator`` (the release draws unseeded noise for the VAE samples
and restarts). The UNet runs in its dtype under autocast, as the release runs it in float16.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet3DConditionModel
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from ...errors import MethodError
from ...video import check_frames
from .components import NEGATIVE_PROMPT, ddim_from_config, resize_like_release, weight_dtype
from .features import truncated_forward
from .inversion import InvertedLatents, ddim_invert, inversion_timesteps
from .latents import frequency_mix, reexpress, renoise, restart_betas
from .loss import motion_loss
from .schedule import guidance_split, learning_rates


@dataclass
class DMTPipelineOutput(BaseOutput):
    """``frames``: float in [0, 1] ``(B, T, H, W, 3)`` for ``"np"``, or the final latents ``(B, 4, T, h, w)`` for ``"latent"``."""

    frames: Any


@dataclass
class GuidanceStepResult:
    """The optimised latent of one guided step and the loss before each of its Adam steps."""

    latents: torch.Tensor
    losses: list[float]


class DMTPipeline(DiffusionPipeline):
    """The ZeroScope components (a ``TextToVideoSDPipeline`` folder) with DMT's sampler.

    The scheduler is always ``DDIMScheduler.from_config`` of the one given (as in the release);
    the models' weights are frozen (only the latent is optimised).
    """

    model_cpu_offload_seq = "text_encoder->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet3DConditionModel,
        scheduler: Any,
    ) -> None:
        super().__init__()
        for model in (vae, text_encoder, unet):
            model.requires_grad_(False)
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=ddim_from_config(scheduler.config),
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    # ------------------------------------------------------------------ stages
    def check_inputs(
        self,
        prompt: Any,
        source_prompt: Any,
        negative_prompt: Any,
        video: Any,
        height: int,
        width: int,
        downsample_factor: int,
        num_inference_steps: int,
        inversion_steps: int,
        optimization_steps: int,
        lr_range: Sequence[float],
        guidance_scale: float,
    ) -> np.ndarray:
        """Raise :class:`MethodError` (or ``VideoError`` for ``video``) naming the first bad argument; returns ``video``."""
        for name, value in (("prompt", prompt), ("source_prompt", source_prompt), ("negative_prompt", negative_prompt)):
            if not isinstance(value, str):
                raise MethodError(f"{name} must be a string, got {type(value).__name__}")
        video = check_frames(video, "video")
        for name, value, least in (
            ("num_inference_steps", num_inference_steps, 1),
            ("inversion_steps", inversion_steps, 1),
            ("optimization_steps", optimization_steps, 0),
        ):
            if value < least:
                raise MethodError(f"{name} must be >= {least}, got {value}")
        if height % self.vae_scale_factor or width % self.vae_scale_factor:
            raise MethodError(f"height and width must be multiples of {self.vae_scale_factor}, got {height}x{width}")
        latent_h, latent_w = height // self.vae_scale_factor, width // self.vae_scale_factor
        if downsample_factor < 1 or min(latent_h, latent_w) < downsample_factor:
            raise MethodError(
                f"downsample_factor must be between 1 and the latent size {latent_h}x{latent_w}, got {downsample_factor}"
            )
        if len(lr_range) != 2 or min(lr_range) <= 0:
            raise MethodError(f"lr_range must be two positive learning rates, got {list(lr_range)}")
        if guidance_scale < 0:
            raise MethodError(f"guidance_scale must be >= 0, got {guidance_scale}")
        return video

    def _autocast(self):
        """The release's float16 autocast around UNet calls (none in float32)."""
        weight = next(self.unet.parameters())
        if weight.dtype in (torch.float16, torch.bfloat16):
            return torch.autocast(weight.device.type, dtype=weight.dtype)
        return nullcontext()

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        """Text-encoder last hidden states ``(B, L, D)`` of prompts padded to the tokenizer length."""
        tokens = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        return self.text_encoder(tokens.input_ids.to(device))[0].to(weight_dtype(self.unet))

    def preprocess_video(self, frames: np.ndarray, height: int, width: int) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` -> float ``(T, 3, height, width)`` in [-1, 1], resized as the release resizes."""
        frames = resize_like_release(frames, height, width)
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
        return tensor.float() / 255.0 * 2.0 - 1.0

    @torch.no_grad()
    def video_posterior(self, pixels: torch.Tensor) -> DiagonalGaussianDistribution:
        """The VAE posterior of ``(T, 3, H, W)`` frames, encoded one frame at a time (the release's VAE slicing)."""
        vae = self.vae
        pixels = pixels.to(device=vae.device, dtype=vae.dtype)
        moments = torch.cat([vae.encode(frame).latent_dist.parameters for frame in pixels.split(1)])
        return DiagonalGaussianDistribution(moments.float())

    def sample_latents(
        self, posterior: DiagonalGaussianDistribution, generator: torch.Generator | None
    ) -> torch.Tensor:
        """A posterior sample times the VAE scale, ``(T, 4, h, w)`` -> ``(1, 4, T, h, w)`` float32."""
        latents = posterior.sample(generator=generator) * self.vae.config.scaling_factor
        return latents.permute(1, 0, 2, 3).unsqueeze(0)

    def invert(
        self, latents: torch.Tensor, source_embeds: torch.Tensor, steps: int, keep: Sequence[int] | None
    ) -> InvertedLatents:
        """DDIM inversion of clean latents with the source prompt (:func:`.inversion.ddim_invert`)."""
        return ddim_invert(
            self.unet,
            latents,
            source_embeds,
            self.scheduler,
            steps,
            keep,
            autocast=self._autocast,
            progress=self.progress_bar,
        )

    def initial_latents(
        self,
        inverted: InvertedLatents,
        clean: torch.Tensor,
        first_timestep: int,
        downsample_factor: int,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """The last inverted latent re-expressed at ``first_timestep``, its low band kept, high band from noise."""
        alphas = self.scheduler.alphas_cumprod
        clean = clean.to(inverted.last.device)
        latents = reexpress(inverted.last, clean, alphas[inverted.last_timestep], alphas[first_timestep])
        if downsample_factor <= 1:
            return latents
        noise = randn_tensor(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
        return frequency_mix(latents, noise, downsample_factor)

    def guidance_step(
        self,
        latents: torch.Tensor,
        timestep: int,
        source_latents: torch.Tensor,
        source_embeds: torch.Tensor,
        target_embeds: torch.Tensor,
        learning_rate: float,
        optimization_steps: int,
    ) -> GuidanceStepResult:
        """Optimise ``latents`` so its guidance features move like those of ``source_latents``.

        A fresh Adam (``learning_rate``) and ``GradScaler`` (active for a float16 UNet); each of the
        ``optimization_steps`` steps runs the UNet up to up block 1 with the target prompt.
        """
        unet, dtype = self.unet, weight_dtype(self.unet)
        with torch.no_grad(), self._autocast():
            source = truncated_forward(unet, source_latents.to(dtype), timestep, source_embeds)
        source = {name: feature[0] for name, feature in source.items()}
        optimized = latents.detach().clone().float().requires_grad_(True)
        optimizer = torch.optim.Adam([optimized], lr=learning_rate)
        scaler = torch.amp.GradScaler(optimized.device.type, enabled=dtype == torch.float16)
        losses = []
        for _ in range(optimization_steps):
            optimizer.zero_grad()
            with torch.enable_grad():
                with self._autocast():
                    target = truncated_forward(unet, optimized.to(dtype), timestep, target_embeds)
                loss = motion_loss(source, {name: feature[0] for name, feature in target.items()})
                scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
        return GuidanceStepResult(latents=optimized.detach(), losses=losses)

    @torch.no_grad()
    def denoise_step(
        self, latents: torch.Tensor, timestep: int, guidance_embeds: torch.Tensor, guidance_scale: float
    ) -> torch.Tensor:
        """One DDIM step (eta 0) with classifier-free guidance; ``guidance_embeds`` = [target, negative]."""
        unet = self.unet
        with self._autocast():
            noise = unet(
                torch.cat([latents, latents]).to(weight_dtype(unet)),
                timestep,
                encoder_hidden_states=guidance_embeds,
                return_dict=False,
            )[0]
        cond, uncond = noise.float().chunk(2)
        noise = uncond + guidance_scale * (cond - uncond)
        return self.scheduler.step(noise, timestep, latents).prev_sample

    def restart(self, latents: torch.Tensor, previous_timestep: int, generator: torch.Generator | None) -> torch.Tensor:
        """Re-noise from ``previous_timestep`` back up one sampling interval (the release's ``undo_step``)."""
        interval = self.scheduler.config.num_train_timesteps // self.scheduler.num_inference_steps
        return renoise(latents, restart_betas(self.scheduler.betas, previous_timestep, interval), generator)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, 4, T, h, w)`` -> float video ``(B, 3, T, H, W)`` in about [-1, 1], one frame at a time."""
        batch, channels, frames, height, width = latents.shape
        flat = (latents / self.vae.config.scaling_factor).permute(0, 2, 1, 3, 4).reshape(-1, channels, height, width)
        flat = flat.to(self.vae.dtype)
        images = torch.cat([self.vae.decode(frame).sample for frame in flat.split(1)])
        return images.reshape(batch, frames, *images.shape[1:]).permute(0, 2, 1, 3, 4).float()

    # ------------------------------------------------------------------ sampling
    def __call__(
        self,
        prompt: str,
        source_prompt: str,
        video: np.ndarray,
        *,
        negative_prompt: str = NEGATIVE_PROMPT,
        num_inference_steps: int = 50,
        inversion_steps: int = 999,
        max_guidance_timestep: float = 1.0,
        min_guidance_timestep: float = 0.6,
        optimization_steps: int = 10,
        lr_range: Sequence[float] = (0.007, 0.004),
        guidance_scale: float = 10.0,
        restart_sampling: bool = True,
        downsample_factor: int = 4,
        height: int = 320,
        width: int = 576,
        generator: torch.Generator | None = None,
        keep_all_inverted: bool = False,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> DMTPipelineOutput | tuple:
        """Transfer the motion of ``video`` (uint8 ``(T, H, W, 3)``, any size) to ``prompt``.

        ``source_prompt`` describes the input video (inversion and source features). Random draws
        from ``generator``, in order: the posterior sample that is inverted, the one the initial
        latent is re-expressed with, the initial noise, then each restart's noise.
        ``keep_all_inverted`` keeps every inverted latent (the release's way; same output).

        Raises:
            MethodError / VideoError: a bad argument, named with the value received.
        """
        # 1. Check inputs
        video = self.check_inputs(
            prompt,
            source_prompt,
            negative_prompt,
            video,
            height,
            width,
            downsample_factor,
            num_inference_steps,
            inversion_steps,
            optimization_steps,
            lr_range,
            guidance_scale,
        )
        if torch.is_inference_mode_enabled():
            raise MethodError("DMT optimises latents with gradients; it cannot run under torch.inference_mode()")
        device = self._execution_device

        # 2. Timesteps: sampled, guided, their learning rates; the inversion must visit the guided ones
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps, guided = guidance_split(
            self.scheduler.timesteps.tolist(), max_guidance_timestep, min_guidance_timestep
        )
        rates = learning_rates(lr_range, len(guided))
        inverted_at = set(inversion_timesteps(self.scheduler, inversion_steps))
        if not set(guided) <= inverted_at:
            raise MethodError(
                f"inversion_steps={inversion_steps} does not visit the guided timesteps "
                f"{sorted(set(guided) - inverted_at, reverse=True)}; use the release's 999 or a count whose "
                f"timesteps include those of num_inference_steps={num_inference_steps}"
            )

        # 3. Encode the prompts: source (inversion, source features); target and negative (sampling)
        source_embeds, target_embeds, negative_embeds = self.encode_prompt(
            [source_prompt, prompt, negative_prompt], device
        ).chunk(3)
        guidance_embeds = torch.cat([target_embeds, negative_embeds])

        # 4. Resize and encode the video: two posterior samples, as the release encodes it twice
        posterior = self.video_posterior(self.preprocess_video(video, height, width))
        inverted_clean = self.sample_latents(posterior, generator).to(device)
        reexpress_clean = self.sample_latents(posterior, generator).to(device)

        # 5. DDIM inversion with the source prompt, keeping the guided timesteps and the last
        inverted = self.invert(inverted_clean, source_embeds, inversion_steps, None if keep_all_inverted else guided)
        del inverted_clean

        # 6. Initial latent: re-expressed at the first sampling timestep, low band kept
        latents = self.initial_latents(inverted, reexpress_clean, timesteps[0], downsample_factor, generator)

        # 7. Sampling: guided steps first, then the DDIM step and its restart
        guided_set = set(guided)
        for i, t in enumerate(self.progress_bar(timesteps)):
            if t in guided_set:
                latents = self.guidance_step(
                    latents,
                    t,
                    inverted.latents.pop(t),  # read once: free it now
                    source_embeds,
                    target_embeds,
                    rates[i],
                    optimization_steps,
                ).latents
            latents = self.denoise_step(latents, t, guidance_embeds, guidance_scale)
            if restart_sampling and i < len(timesteps) - 1:
                latents = self.restart(latents, timesteps[i + 1], generator)
                latents = self.denoise_step(latents, t, guidance_embeds, guidance_scale)
        del inverted

        # 8. Decode
        if output_type == "latent":
            video_out = latents
        elif output_type == "np":
            frames = (self.decode_latents(latents) * 0.5 + 0.5).clamp(0, 1)
            video_out = frames.permute(0, 2, 3, 4, 1).cpu().numpy()
        else:
            raise MethodError(f"output_type must be 'np' or 'latent', got {output_type!r}")
        self.maybe_free_model_hooks()
        return DMTPipelineOutput(frames=video_out) if return_dict else (video_out,)
