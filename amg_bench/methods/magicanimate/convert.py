"""The release's weights (``zcxu-eric/MagicAnimate``) + SD 1.5 + sd-vae-ft-mse -> a :class:`MagicAnimatePipeline` folder.

``temporal_attention/temporal_attention.ckpt`` is a pickle (``{state_dict: ...}`` or a bare
state dict), loaded only because the user names it, with ``torch.load(weights_only=True)``. At
5.11 GB it holds the whole denoising UNet in float32 (SD 1.5's 859.5 M spatial parameters plus
417.1 M of AnimateDiff v1 motion modules: 1.277 G x 4 bytes), so its spatial tensors replace SD
1.5's. Names follow :mod:`.keys`. Every tensor must map to a parameter and every motion-module
parameter must be filled; spatial tensors must be all present or all absent (then SD 1.5's are
kept, as the release's ``strict=False`` load would); otherwise the conversion stops and lists
the offending names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConversionError
from ...files import atomic_directory
from ..checkpoints import read_state_dict
from ..weights import weights_source
from .components import (
    RELEASE_ID,
    RELEASE_LAYOUT,
    SD15,
    TEMPORAL_CHECKPOINT,
    VAE,
    load_controlnet,
    load_sd15,
    load_vae,
    missing,
    release_scheduler,
)
from .keys import is_motion_key, map_motion_key, strip_prefix

_SHOWN = 40


def _listing(names) -> str:
    names = sorted(names)
    return ", ".join(names[:_SHOWN]) + (f", ... and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


@dataclass(frozen=True)
class ConversionReport:
    """What a conversion read: tensors per kind, and whether the checkpoint's spatial weights were used."""

    folder: Path
    motion_tensors: int
    spatial_tensors: int
    spatial_from: str


def load_release_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The state dict of ``temporal_attention.ckpt``, names stripped of ``module.`` / ``unet.``.

    Raises:
        ConversionError: missing file, not a weights-only pickle, no tensors, or two names that
            become one after stripping.
    """
    state = read_state_dict(path)
    stripped: dict[str, Any] = {}
    for key, tensor in state.items():
        name = strip_prefix(key)
        if name in stripped:
            raise ConversionError(f"checkpoint {path}: {key!r} and another key both become {name!r}")
        stripped[name] = tensor
    return stripped


def map_motion_state(state: dict[str, Any]) -> dict[str, Any]:
    """The motion-module tensors under ``MotionAdapter`` names (both position tables must agree).

    Raises:
        ConversionError: listing every motion name no rule maps, or unequal position tables.
    """
    import torch

    mapped: dict[str, Any] = {}
    unmapped = []
    for key, tensor in state.items():
        if not is_motion_key(key):
            continue
        name = map_motion_key(key)
        if name is None:
            unmapped.append(key)
        elif name in mapped:
            if not torch.equal(mapped[name], tensor):
                raise ConversionError(f"{key}: the two attentions' position tables differ; expected one shared table")
        else:
            mapped[name] = tensor
    if unmapped:
        raise ConversionError(
            f"{len(unmapped)} motion-module tensor(s) map to nothing (the AnimateDiff v1 layout has one transformer "
            f"block of two temporal self-attentions per module and no mid-block module): {_listing(unmapped)}"
        )
    return mapped


def build_motion_unet(unet2d, state: dict[str, Any]):
    """The release's denoising UNet: ``unet2d`` (spatial tensors of ``state`` replacing its own) + motion modules.

    Returns:
        ``(UNetMotionModel, spatial tensors used)``.

    Raises:
        ConversionError: unknown, missing or misshapen tensors (all listed).
    """
    from diffusers import UNetMotionModel

    from .motion_unet import motion_adapter_for

    adapter = motion_adapter_for(dict(unet2d.config))
    motion = map_motion_state(state)
    spatial = {k: v for k, v in state.items() if not is_motion_key(k)}
    problems = []
    for what, expected, given in (("motion", adapter.state_dict(), motion), ("spatial", unet2d.state_dict(), spatial)):
        unknown = sorted(set(given) - set(expected))
        if unknown:
            problems.append(f"{len(unknown)} {what} tensor(s) match no parameter [{_listing(unknown)}]")
        lacking = sorted(set(expected) - set(given))
        if lacking and (what == "motion" or given):
            problems.append(f"{len(lacking)} {what} parameter(s) missing [{_listing(lacking)}]")
        wrong = [f"{k} {tuple(given[k].shape)} vs {tuple(expected[k].shape)}" for k in sorted(set(given) & set(expected))
                 if tuple(given[k].shape) != tuple(expected[k].shape)]  # fmt: skip
        if wrong:
            problems.append(f"{len(wrong)} {what} tensor(s) of the wrong shape [{_listing(wrong)}]")
    if problems:
        raise ConversionError("temporal_attention.ckpt does not fit SD 1.5 + AnimateDiff v1: " + "; ".join(problems))
    adapter.load_state_dict({k: v.contiguous() for k, v in motion.items()}, strict=True)
    if spatial:
        unet2d.load_state_dict({k: v.to(unet2d.dtype).contiguous() for k, v in spatial.items()}, strict=True)
    return UNetMotionModel.from_unet2d(unet2d, adapter).eval(), len(spatial)


def _release_source(release: str):
    """The release folder: a local folder, or ``hub:zcxu-eric/MagicAnimate`` resolved through the cache."""
    source = weights_source(release, "CKPT_DIR")
    if source.path is not None:
        if not (source.path / TEMPORAL_CHECKPOINT).is_file():
            raise missing("the MagicAnimate release", source, RELEASE_ID, RELEASE_LAYOUT)
        return source, source.path
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(source.repo_id, revision=source.revision))
    except Exception as exc:  # offline, not cached, or no such repo
        raise missing("the MagicAnimate release", source, RELEASE_ID, RELEASE_LAYOUT, exc) from exc
    return weights_source(str(folder), "CKPT_DIR"), folder


def convert_release(
    release: str | os.PathLike,
    out: str | os.PathLike,
    base: str = SD15,
    vae: str = VAE,
    dtype: str = "float32",
    overwrite: bool = False,
) -> ConversionReport:
    """Write a :class:`MagicAnimatePipeline` folder at ``out`` from the release and its base models.

    Args:
        release: the ``zcxu-eric/MagicAnimate`` folder (``appearance_encoder/``,
            ``densepose_controlnet/``, ``temporal_attention/temporal_attention.ckpt``), or ``hub:`` id.
        out: output folder (written under a temporary name, renamed when complete).
        base: SD 1.5 (``unet/``, ``text_encoder/``, ``tokenizer/``): a folder or ``hub:`` id.
        vae: sd-vae-ft-mse: a folder or ``hub:`` id.
        dtype: dtype the folder is saved in (``float32`` keeps the release's values).

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
        MissingWeightsError: a component is not available locally (the message names the download).
        ConversionError: unreadable checkpoint, unmapped, missing or misshapen tensors.
    """
    import torch

    from .appearance_encoder import load_appearance_encoder
    from .pipeline import MagicAnimatePipeline

    if dtype not in ("float32", "float16", "bfloat16"):
        raise ConversionError(f"dtype must be float32, float16 or bfloat16, got {dtype!r}")
    out = Path(out)
    with atomic_directory(out, overwrite=overwrite) as tmp:  # refuses an existing `out` before any work
        source, folder = _release_source(str(release))
        sd15 = load_sd15(base)  # missing weights fail before the 5 GB checkpoint is read
        components = {
            "vae": load_vae(vae),
            "text_encoder": sd15["text_encoder"],
            "tokenizer": sd15["tokenizer"],
            "controlnet": load_controlnet(source),
            "appearance_encoder": load_appearance_encoder(source),
            "scheduler": release_scheduler(),
        }
        state = load_release_checkpoint(folder / TEMPORAL_CHECKPOINT)
        components["unet"], spatial = build_motion_unet(sd15["unet"], state)
        pipe = MagicAnimatePipeline(**components)
        pipe.to(dtype=getattr(torch, dtype))
        pipe.save_pretrained(tmp, safe_serialization=True)
    motion = sum(1 for k in state if is_motion_key(k))
    return ConversionReport(out, motion, spatial, "temporal_attention.ckpt" if spatial else f"SD 1.5 ({base})")
