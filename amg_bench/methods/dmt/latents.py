"""DMT's initial latent and its restart re-noising, as tensor maths on ``(B, C, T, h, w)`` latents.

- :func:`reexpress`: the release (``initialize_latent.prepare_latents``) turns the most-noised
  inverted latent ``z_T`` into the noise it implies, ``eps = (z_T - sqrt(a_T) x0) / sqrt(1 - a_T)``
  with ``x0`` the clean video latent, and puts it back at the first sampling timestep ``s``:
  ``sqrt(a_s) x0 + sqrt(1 - a_s) eps`` (``a`` = ``alphas_cumprod``; ``T`` = 999, ``s`` = 981 by default).
- :func:`frequency_mix`: per frame, the low band of that latent (bilinear down-sampling by
  ``factor`` and back, ``align_corners=True``, antialiased, as the release's
  ``high_freqs_replacement_downsampling``) plus the high band of seeded Gaussian noise
  (the noise minus its own low band).
- :func:`renoise`: the release's restart ``undo_step``: after denoising ``t -> t_prev`` the latent
  is taken back up by ``n = num_train_timesteps // num_inference_steps`` forward-process steps,
  ``x <- sqrt(1 - beta_k) x + sqrt(beta_k) noise`` for ``k = t_prev, ..., t_prev + n - 1``
  (the release's indices: ``betas[t_prev + i]``), each with fresh noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import MethodError


def reexpress(noisy: torch.Tensor, clean: torch.Tensor, alpha_noisy, alpha_target) -> torch.Tensor:
    """Re-express a noisy latent at another noise level, keeping the noise it implies.

    ``noisy = sqrt(alpha_noisy) clean + sqrt(1 - alpha_noisy) eps`` defines ``eps``; returns
    ``sqrt(alpha_target) clean + sqrt(1 - alpha_target) eps``.
    """
    alpha_noisy = torch.as_tensor(alpha_noisy, dtype=torch.float64).item()
    alpha_target = torch.as_tensor(alpha_target, dtype=torch.float64).item()
    eps = (noisy - alpha_noisy**0.5 * clean) / (1.0 - alpha_noisy) ** 0.5
    return alpha_target**0.5 * clean + (1.0 - alpha_target) ** 0.5 * eps


def low_pass(latents: torch.Tensor, factor: int) -> torch.Tensor:
    """Per frame, bilinear down-sampling of ``(B, C, T, h, w)`` by ``factor`` and back up to ``h x w``.

    Raises:
        MethodError: the latent is smaller than ``factor`` on a side.
    """
    batch, channels, frames, height, width = latents.shape
    small = (height // factor, width // factor)
    if min(small) < 1:
        raise MethodError(f"latents of {height}x{width} cannot be down-sampled by {factor}")
    flat = latents.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, height, width)
    down = F.interpolate(flat, size=small, mode="bilinear", align_corners=True, antialias=True)
    up = F.interpolate(down, size=(height, width), mode="bilinear", align_corners=True, antialias=True)
    return up.reshape(batch, frames, channels, height, width).permute(0, 2, 1, 3, 4)


def frequency_mix(latents: torch.Tensor, noise: torch.Tensor, factor: int) -> torch.Tensor:
    """``low_pass(latents) + (noise - low_pass(noise))``; both ``(B, C, T, h, w)``.

    Raises:
        MethodError: the shapes differ, or :func:`low_pass` refuses them.
    """
    if latents.shape != noise.shape:
        raise MethodError(f"latents {tuple(latents.shape)} and noise {tuple(noise.shape)} differ in shape")
    return low_pass(latents, factor) + (noise - low_pass(noise, factor))


def restart_betas(betas: torch.Tensor, previous_timestep: int, interval: int) -> torch.Tensor:
    """``betas[previous_timestep : previous_timestep + interval]``: the release's restart steps.

    Raises:
        MethodError: the range leaves the schedule.
    """
    stop = previous_timestep + interval
    if previous_timestep < 0 or stop > len(betas):
        raise MethodError(
            f"restart from timestep {previous_timestep} by {interval} leaves the {len(betas)}-step schedule"
        )
    return betas[previous_timestep:stop]


def renoise(sample: torch.Tensor, betas: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the forward-process steps ``x <- sqrt(1 - b) x + sqrt(b) n`` for each ``b`` in ``betas``, in order.

    Each ``n`` is fresh standard normal noise drawn from ``generator`` (on its device, then moved).
    """
    draw_on = generator.device if generator is not None else sample.device
    for beta in betas.tolist():
        noise = torch.randn(sample.shape, generator=generator, device=draw_on, dtype=sample.dtype).to(sample.device)
        sample = (1.0 - beta) ** 0.5 * sample + beta**0.5 * noise
    return sample
