"""The ZeroScope text-to-video base DMT runs on, and the release's input resize.

Base: ``cerspense/zeroscope_v2_576w`` (ModelScope-architecture ``UNet3DConditionModel``,
``CLIPTextModel``, ``AutoencoderKL`` with scale 0.18215), laid out as a diffusers
``TextToVideoSDPipeline`` folder (``model_index.json``, ``unet/ text_encoder/ tokenizer/ vae/
scheduler/``). The release swaps the base's scheduler for ``DDIMScheduler.from_config`` of the
base's own scheduler config; so does :func:`ddim_from_config`.

Input frames: the release resizes every frame with PIL's ``Image.resize((576, 320))`` (default
filter: bicubic; the whole frame is stretched, nothing is cropped), so a square 256 x 256 avatar
render becomes 576 x 320 with its aspect changed. :func:`resize_like_release` does the same.
"""

from __future__ import annotations

import numpy as np

from ...errors import MissingWeightsError
from ...video import check_frames

ZEROSCOPE_ID = "cerspense/zeroscope_v2_576w"
#: The ``model`` default: the Hub repo, read through the Hugging Face cache.
ZEROSCOPE_MODEL = f"hub:{ZEROSCOPE_ID}"
#: How the release resizes its input video (recorded in results).
INPUT_RESIZE_RULE = "PIL Image.resize to width x height, bicubic (PIL default), whole frame stretched, no crop"
#: The release's negative prompt (``configs/guidance_config.yaml``).
NEGATIVE_PROMPT = "bad quality, distortions, unrealistic, distorted image, watermark, signature"
#: What to run when the base is missing.
DOWNLOAD_HINT = (
    f"download it with `hf download {ZEROSCOPE_ID}` (into the Hugging Face cache, read as "
    f"model=hub:{ZEROSCOPE_ID}; HF_HOME moves it) or `hf download {ZEROSCOPE_ID} --local-dir DIR` and pass "
    "model=DIR (a folder with model_index.json, unet/, text_encoder/, tokenizer/, vae/, scheduler/); "
    "the weights are licensed CC BY-NC 4.0"
)


def missing_base(model: str, exc: BaseException | None = None) -> MissingWeightsError:
    """The error for a ZeroScope base that is neither a local folder nor in the Hugging Face cache."""
    cause = f" ({exc})" if exc is not None else ""
    return MissingWeightsError(f"cannot load the ZeroScope base {model!r}{cause}; {DOWNLOAD_HINT}")


def weight_dtype(model):
    """The dtype of a model's first parameter.

    diffusers' ``ModelMixin.dtype`` walks every submodule on each call (milliseconds for a UNet);
    DMT asks once per UNet call, thousands of times per clip.
    """
    return next(model.parameters()).dtype


def ddim_from_config(config):
    """A ``DDIMScheduler`` built from another scheduler's config (the release's ``DDIMScheduler.from_config``)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(config)


def resize_like_release(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> uint8 ``(T, height, width, 3)`` with PIL's bicubic ``Image.resize``.

    Raises:
        VideoError: ``frames`` is not a uint8 ``(T, H, W, 3)`` array.
    """
    from PIL import Image

    frames = check_frames(frames, "video")
    return np.stack(
        [np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BICUBIC)) for frame in frames]
    )
