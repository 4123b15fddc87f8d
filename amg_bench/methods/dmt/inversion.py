"""DDIM inversion of the input video's latents, keeping only the latents DMT reads.

The release (``preprocess_video_ddim.py``, ``n_timesteps: 999``) sets the base's DDIM to 999
steps (timesteps 1, 2, ..., 999 ascending) and, conditional on the source prompt only (no
guidance), steps every latent up::

    eps = unet(z, t, source)                       # z: the latent at the previous timestep
    x0  = (z - sqrt(1 - a_prev) eps) / sqrt(a_prev)  # a_prev = alphas_cumprod[previous t], or the
    z   = sqrt(a_t) x0 + sqrt(1 - a_t) eps           # scheduler's final_alpha_cumprod at the first step

writing each of the 999 latents to disk. The sampler then reads only the inverted latents at
its guided timesteps (for the source features) and the last, most-noised one (for its initial
latent); :func:`ddim_invert` keeps exactly those in memory (``keep``), or every one with
``keep=None`` (the release's way, for comparison). The loop runs the UNet in its dtype and
carries the latent in float32 (the release carries it in float16 under autocast).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from ...errors import MethodError
from .components import ddim_from_config, weight_dtype


@dataclass
class InvertedLatents:
    """Latents of an inversion: ``latents[t]`` is ``(B, C, T, h, w)`` float32 at timestep ``t``.

    ``last_timestep`` is the inversion's final (most-noised) timestep; its latent is always kept.
    """

    latents: dict[int, torch.Tensor]
    last_timestep: int

    @property
    def last(self) -> torch.Tensor:
        return self.latents[self.last_timestep]

    def nbytes(self) -> int:
        """Memory the kept latents hold."""
        return sum(latent.numel() * latent.element_size() for latent in self.latents.values())


def inversion_timesteps(scheduler, steps: int) -> list[int]:
    """The ascending timesteps of a ``steps``-step inversion with ``scheduler``'s config (999 -> 1, ..., 999)."""
    inverse = ddim_from_config(scheduler.config)
    inverse.set_timesteps(steps)
    return [int(t) for t in inverse.timesteps.flip(0)]


@torch.no_grad()
def ddim_invert(
    unet: torch.nn.Module,
    latents: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    scheduler,
    steps: int,
    keep: Iterable[int] | None,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
    progress: Callable[[Iterable], Iterable] = iter,
) -> InvertedLatents:
    """Invert clean ``latents`` ``(B, C, T, h, w)`` over ``steps`` DDIM steps (the formulas above).

    ``keep``: the timesteps whose latents to return (the last is always returned), or ``None``
    for all of them. ``autocast`` wraps each UNet call; ``progress`` wraps the timestep loop.

    Raises:
        MethodError: a timestep in ``keep`` is not one of the inversion's timesteps.
    """
    timesteps = inversion_timesteps(scheduler, steps)
    wanted = set(timesteps) if keep is None else {int(t) for t in keep}
    unknown = sorted(wanted - set(timesteps))
    if unknown:
        raise MethodError(
            f"timesteps {unknown} are not among the {steps}-step inversion's timesteps "
            f"({timesteps[0]}, {timesteps[1] if len(timesteps) > 1 else ''}, ..., {timesteps[-1]})"
        )
    wanted.add(timesteps[-1])
    alphas = scheduler.alphas_cumprod.double()
    alpha_prev = float(scheduler.final_alpha_cumprod)
    sample, dtype = latents.float(), weight_dtype(unet)
    kept: dict[int, torch.Tensor] = {}
    for t in progress(timesteps):
        alpha = float(alphas[t])
        with autocast():
            eps = unet(sample.to(dtype), t, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]
        eps = eps.float()
        clean = (sample - (1.0 - alpha_prev) ** 0.5 * eps) / alpha_prev**0.5
        sample = alpha**0.5 * clean + (1.0 - alpha) ** 0.5 * eps
        if t in wanted:
            kept[t] = sample
        alpha_prev = alpha
    return InvertedLatents(latents=kept, last_timestep=timesteps[-1])
