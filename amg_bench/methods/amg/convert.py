"""Released AMG checkpoint (VGen format) -> our :class:`AMGPipeline` folder.

The release (``non_ema_0640000.pth``, zshyang/amg) is a pickle holding
``{state_dict, optimizer, scaler, step}``; ``state_dict`` names the UNet the ModelScope way
with the release's LoRA siblings and an 8-channel first conv (names: :mod:`.keys`). It is loaded
only because the user names it, with ``torch.load(weights_only=True)``. Every tensor must map to
a parameter of our UNet and every parameter must be filled, otherwise the conversion stops and
lists the offending names. Text encoder, tokenizer and VAE come from the ModelScope base.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import ConversionError
from ...files import atomic_directory
from ..checkpoints import read_state_dict
from .components import BASE_MODEL, load_base_components, load_unet_config
from .keys import is_lora_name, map_release_key

_SHOWN = 50


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def load_release_state_dict(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """The UNet state dict of a release checkpoint (``{state_dict: ...}`` or a bare state dict).

    Raises:
        ConversionError: missing file, not a weights-only pickle, or no state dict in it.
    """
    return read_state_dict(checkpoint)


def map_release_state_dict(state: dict[str, Any], layers_per_block: int) -> dict[str, Any]:
    """Rename (and reshape) every release tensor to our UNet's names.

    Returns:
        ``{our name: tensor}``; LoRA matrices under peft names without the adapter name.

    Raises:
        ConversionError: listing every release name that follows no mapping rule.
    """
    mapped, unmapped = {}, []
    for key, tensor in state.items():
        target = map_release_key(key, layers_per_block)
        if target is None:
            unmapped.append(key)
            continue
        if target.drop_last_dim:
            if tensor.ndim != 3 or tensor.shape[-1] != 1:
                raise ConversionError(f"{key}: expected a Conv1d weight (out, in, 1), got {tuple(tensor.shape)}")
            tensor = tensor[:, :, 0]
        mapped[target.name] = tensor
    if unmapped:
        raise ConversionError(f"{len(unmapped)} checkpoint key(s) map to nothing: {_listing(sorted(unmapped))}")
    return mapped


def build_unet(unet_config: dict[str, Any], state: dict[str, Any]):
    """Our AMG UNet from a base UNet config and mapped release tensors (base + LoRA).

    Raises:
        ConversionError: wrong first-conv width, LoRA of mixed ranks, or tensors the UNet lacks /
            parameters the checkpoint lacks / shape mismatches (all listed).
    """
    import torch
    from diffusers import UNet3DConditionModel

    from .unet import AMG_IN_CHANNELS, add_lora, load_lora_state_dict

    conv = state.get("conv_in.weight")
    if conv is None or conv.ndim != 4 or conv.shape[1] != AMG_IN_CHANNELS:
        got = None if conv is None else tuple(conv.shape)
        raise ConversionError(f"input_blocks.0.0.weight must take {AMG_IN_CHANNELS} channels, got shape {got}")
    lora = {name: tensor for name, tensor in state.items() if is_lora_name(name)}
    base = {name: tensor for name, tensor in state.items() if not is_lora_name(name)}
    ranks = sorted({tensor.shape[0] for name, tensor in lora.items() if ".lora_A." in name})
    if len(ranks) != 1:
        raise ConversionError(f"expected LoRA matrices of one rank, found ranks {ranks}")

    config = {**unet_config, "in_channels": AMG_IN_CHANNELS}
    with torch.device("meta"):
        unet = UNet3DConditionModel.from_config(config)
    expected = unet.state_dict()
    missing = sorted(set(expected) - set(base))
    unexpected = sorted(set(base) - set(expected))
    if missing or unexpected:
        raise ConversionError(
            f"checkpoint does not fit the base UNet: {len(unexpected)} tensor(s) match no parameter "
            f"[{_listing(unexpected)}]; {len(missing)} parameter(s) missing [{_listing(missing)}]"
        )
    wrong = [
        f"{n} {tuple(base[n].shape)} vs {tuple(expected[n].shape)}"
        for n in sorted(base)
        if tuple(base[n].shape) != tuple(expected[n].shape)
    ]
    if wrong:
        raise ConversionError(f"{len(wrong)} tensor(s) have the wrong shape: {_listing(wrong)}")
    unet.load_state_dict({n: t.contiguous() for n, t in base.items()}, strict=True, assign=True)
    add_lora(unet, rank=ranks[0])
    try:
        missing_lora = load_lora_state_dict(unet, lora)
    except Exception as exc:  # peft reports shape mismatches as RuntimeError
        raise ConversionError(f"cannot load the LoRA matrices: {exc}") from exc
    if missing_lora:
        raise ConversionError(f"checkpoint lacks {len(missing_lora)} LoRA tensor(s): {_listing(missing_lora)}")
    return unet.eval()


def convert_release_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    base: str | os.PathLike = BASE_MODEL,
    dtype: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Write an :class:`AMGPipeline` folder at ``out`` from the released checkpoint.

    Args:
        checkpoint: the release's ``.pth`` (a pickle; loaded with ``weights_only=True``).
        out: output folder (written under a temporary name, renamed when complete).
        base: ``hub:damo-vilab/text-to-video-ms-1.7b`` or a local copy (text encoder, tokenizer, VAE,
            UNet config).
        dtype: dtype the folder is saved in (``float32`` keeps the release's values).

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
        ConversionError: unreadable checkpoint, unmapped or missing tensors.
        MissingWeightsError: the base model is not available locally.
    """
    import torch

    from .pipeline import AMGPipeline

    if dtype not in ("float32", "float16", "bfloat16"):
        raise ConversionError(f"dtype must be float32, float16 or bfloat16, got {dtype!r}")
    out = Path(out)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        state = load_release_state_dict(checkpoint)
        config = load_unet_config(base)
        components = load_base_components(base, with_unet=False)
        mapped = map_release_state_dict(state, config["layers_per_block"])
        components["unet"] = build_unet(config, mapped)
        pipe = AMGPipeline(**components)
        pipe.to(dtype=getattr(torch, dtype))
        pipe.save_pretrained(tmp)
    return out
