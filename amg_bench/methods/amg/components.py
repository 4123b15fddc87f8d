"""The ModelScope text-to-video components AMG is built on, and the release's sampler.

Base: ``damo-vilab/text-to-video-ms-1.7b`` (UNet3D, OpenCLIP ViT-H text encoder as a
``CLIPTextModel``, SD 2.1 VAE with scale 0.18215). Sampler: the release's DDIM, whose
"linear_sd" betas (linear in sqrt-space, 0.00085 to 0.012 over 1000 steps, VGen
``schedules.py``) are diffusers' ``scaled_linear``, and whose 20 steps are
``1 + arange(0, 1000, 50)`` reversed, i.e. 951, 901, ..., 1 (``steps_offset=1``, "leading"
spacing); its last step uses ``alphas_cumprod[0]`` as the previous alpha (VGen clamps ``t - 50`` at
0), which is ``set_alpha_to_one=False``; no clipping of the predicted x0.
"""

from __future__ import annotations

import os
from typing import Any

from ...errors import MissingWeightsError
from ..weights import weights_source

BASE_MODEL_ID = "damo-vilab/text-to-video-ms-1.7b"
#: The ``--base`` default: the Hub repo, read through the Hugging Face cache.
BASE_MODEL = f"hub:{BASE_MODEL_ID}"

RELEASE_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}


def release_scheduler():
    """A fresh ``DDIMScheduler`` with the release's settings."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(**RELEASE_SCHEDULER)


def missing_base(base: str | os.PathLike, exc: BaseException | None = None) -> MissingWeightsError:
    """The error for a base model that is neither a local folder nor in the Hugging Face cache."""
    cause = f" ({exc})" if exc is not None else ""
    return MissingWeightsError(
        f"cannot load the ModelScope base model {str(base)!r}{cause}. Download {BASE_MODEL_ID} "
        f"with `hf download {BASE_MODEL_ID}` (into the Hugging Face cache; pass --base {BASE_MODEL}) or "
        f"`hf download {BASE_MODEL_ID} --local-dir DIR` and pass DIR, laid out with unet/, text_encoder/, "
        "tokenizer/, vae/"
    )


def _base_source(base: str | os.PathLike):
    """``(from_pretrained argument, revision)`` of a base option, refusing a missing local folder."""
    source = weights_source(str(base), "base")
    if source.path is not None and not source.path.is_dir():
        raise missing_base(base)
    return source.pretrained, source.revision


def load_unet_config(base: str | os.PathLike) -> dict[str, Any]:
    """The base UNet's ``config.json`` (no weights).

    Raises:
        MissingWeightsError: not available locally.
    """
    from diffusers import UNet3DConditionModel

    pretrained, revision = _base_source(base)
    try:
        return dict(UNet3DConditionModel.load_config(pretrained, subfolder="unet", revision=revision))
    except OSError as exc:
        raise missing_base(base, exc) from exc


def load_base_components(base: str | os.PathLike, dtype=None, with_unet: bool = True) -> dict[str, Any]:
    """Load UNet, text encoder, tokenizer and VAE of a ms-1.7b-layout folder or ``hub:`` repo.

    The scheduler is always the release's DDIM (:func:`release_scheduler`), whatever the base
    says. With ``with_unet=False`` the ``unet`` entry is ``None`` (its weights are not read).

    Raises:
        MissingWeightsError: a component cannot be found locally; the message says what to download.
    """
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    pretrained, revision = _base_source(base)
    kwargs: dict[str, Any] = {"revision": revision}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        unet = UNet3DConditionModel.from_pretrained(pretrained, subfolder="unet", **kwargs) if with_unet else None
        vae = AutoencoderKL.from_pretrained(pretrained, subfolder="vae", **kwargs)
        text_encoder = CLIPTextModel.from_pretrained(pretrained, subfolder="text_encoder", **kwargs)
        tokenizer = CLIPTokenizer.from_pretrained(pretrained, subfolder="tokenizer", revision=revision)
    except OSError as exc:
        raise missing_base(base, exc) from exc
    return {
        "unet": unet,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "vae": vae,
        "scheduler": release_scheduler(),
    }
