"""Where MagicAnimate's weights come from, and the release's DDIM sampler.

The release (``configs/prompts/animation.yaml``) assembles: Stable Diffusion 1.5's text encoder,
tokenizer and UNet (``runwayml/stable-diffusion-v1-5``, now mirrored as
``stable-diffusion-v1-5/stable-diffusion-v1-5``), the VAE ``stabilityai/sd-vae-ft-mse``, and
from ``zcxu-eric/MagicAnimate`` the folders ``appearance_encoder/`` and
``densepose_controlnet/`` plus ``temporal_attention/temporal_attention.ckpt``.

The sampler: ``pipelines/animation.py`` builds ``DDIMScheduler(**noise_scheduler_kwargs)``
from ``configs/inference/inference.yaml`` (``beta_start 0.00085``, ``beta_end 0.012``,
``beta_schedule "linear"``), so diffusers 0.21.4's defaults fill the rest
(``num_train_timesteps 1000``, ``clip_sample True``, ``set_alpha_to_one True``,
``steps_offset 0``, ``prediction_type "epsilon"``, ``timestep_spacing "leading"``, no
thresholding); then ``AnimationPipeline.__init__`` (``pipeline_animation.py``) rewrites the
scheduler's config to ``steps_offset 1`` and ``clip_sample False``, which is what
``set_timesteps`` and ``step`` read. ``set_alpha_to_one True`` had already fixed the last
step's previous alpha to 1. So 25 steps are 961, 921, ..., 1, with no clipping of x0.
"""

from __future__ import annotations

from typing import Any

from ...errors import MissingWeightsError
from ..weights import WeightsSource, weights_source

SD15_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"
VAE_ID = "stabilityai/sd-vae-ft-mse"
RELEASE_ID = "zcxu-eric/MagicAnimate"
SD15 = f"hub:{SD15_ID}"
VAE = f"hub:{VAE_ID}"

APPEARANCE_FOLDER = "appearance_encoder"
CONTROLNET_FOLDER = "densepose_controlnet"
TEMPORAL_CHECKPOINT = "temporal_attention/temporal_attention.ckpt"
RELEASE_LAYOUT = f"{APPEARANCE_FOLDER}/, {CONTROLNET_FOLDER}/ and {TEMPORAL_CHECKPOINT}"

RELEASE_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "linear",
    "trained_betas": None,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "set_alpha_to_one": True,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "thresholding": False,
    "timestep_spacing": "leading",
    "rescale_betas_zero_snr": False,
}


def release_scheduler():
    """A fresh ``DDIMScheduler`` with the settings the release samples with."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(**RELEASE_SCHEDULER)


def download_hint(source: WeightsSource, repo_id: str) -> str:
    if source.is_hub:
        return f"`hf download {source.repo_id}` (into the Hugging Face cache; HF_HOME moves it)"
    return f"`hf download {repo_id} --local-dir {source.path}`"


def missing(what: str, source: WeightsSource, repo_id: str, layout: str, exc: BaseException | None = None):
    """The :class:`MissingWeightsError` for a component that is neither a local folder nor cached."""
    cause = f" ({exc})" if exc is not None else ""
    return MissingWeightsError(
        f"cannot load {what} from {source.text!r}{cause}. Download it with {download_hint(source, repo_id)}; "
        f"the folder holds {layout}"
    )


def resolve(value: str, option: str, what: str, repo_id: str, layout: str) -> WeightsSource:
    """Parse a weights option, refusing a local folder that does not exist (naming the download)."""
    source = weights_source(value, option)
    if source.path is not None and not source.path.is_dir():
        raise missing(what, source, repo_id, layout)
    return source


def load_sd15(base: str, dtype=None) -> dict[str, Any]:
    """SD 1.5's ``unet`` (a ``UNet2DConditionModel``), ``text_encoder`` and ``tokenizer``.

    Raises:
        MissingWeightsError: naming ``hf download stable-diffusion-v1-5/stable-diffusion-v1-5``.
    """
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    layout = "unet/, text_encoder/, tokenizer/"
    source = resolve(base, "base", "Stable Diffusion 1.5", SD15_ID, layout)
    kwargs: dict[str, Any] = {"revision": source.revision}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        unet = UNet2DConditionModel.from_pretrained(source.pretrained, subfolder="unet", **kwargs)
        text_encoder = CLIPTextModel.from_pretrained(source.pretrained, subfolder="text_encoder", **kwargs)
        tokenizer = CLIPTokenizer.from_pretrained(source.pretrained, subfolder="tokenizer", revision=source.revision)
    except OSError as exc:
        raise missing("Stable Diffusion 1.5", source, SD15_ID, layout, exc) from exc
    return {"unet": unet, "text_encoder": text_encoder, "tokenizer": tokenizer}


def load_vae(vae: str, dtype=None):
    """The ``AutoencoderKL`` of an sd-vae-ft-mse layout folder (``config.json`` at its top).

    Raises:
        MissingWeightsError: naming ``hf download stabilityai/sd-vae-ft-mse``.
    """
    from diffusers import AutoencoderKL

    layout = "config.json and diffusion_pytorch_model.safetensors"
    source = resolve(vae, "vae", "the VAE", VAE_ID, layout)
    kwargs: dict[str, Any] = {"revision": source.revision}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        return AutoencoderKL.from_pretrained(source.pretrained, **kwargs)
    except OSError as exc:
        raise missing("the VAE", source, VAE_ID, layout, exc) from exc


def load_controlnet(release: WeightsSource, dtype=None):
    """The DensePose ``ControlNetModel`` from the release's ``densepose_controlnet/``.

    Raises:
        MissingWeightsError: naming ``hf download zcxu-eric/MagicAnimate``.
    """
    from diffusers import ControlNetModel

    kwargs: dict[str, Any] = {"revision": release.revision}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        return ControlNetModel.from_pretrained(release.pretrained, subfolder=CONTROLNET_FOLDER, **kwargs)
    except OSError as exc:
        raise missing("the DensePose ControlNet", release, RELEASE_ID, RELEASE_LAYOUT, exc) from exc
