"""The appearance encoder: the release's ``appearance_encoder/`` loaded as a diffusers ``UNet2DConditionModel``.

The release's ``AppearanceEncoderModel`` (``models/appearance_encoder.py``) is SD 1.5's UNet
with its output layers removed: no ``conv_norm_out`` / ``conv_out``, and in the last
transformer block of the last up block (``up_blocks[3].attentions[2].transformer_blocks[0]``)
the self-attention projections, ``norm2``, the cross-attention, ``norm3``, the feed-forward and
the attention's ``proj_out`` are identities or absent. Only that block's ``norm1`` output is
ever used (reference attention stores it), so its weights file lacks exactly those tensors.

Here it loads through ``UNet2DConditionModel.from_pretrained``; the tensors the release dropped
are tolerated (filled with zeros: the layers run but their output is discarded), any other
missing or unexpected tensor is an error listing them.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConversionError
from ..weights import WeightsSource
from .components import APPEARANCE_FOLDER, RELEASE_ID, RELEASE_LAYOUT, missing

_SHOWN = 30


def unused_encoder_keys(names: list[str], up_blocks: list[Any]) -> set[str]:
    """State-dict names the release's encoder does not have (see the module docstring).

    Args:
        names: the ``UNet2DConditionModel`` state-dict names.
        up_blocks: its ``up_blocks`` (to find the last attention and transformer block).
    """
    last_up = len(up_blocks) - 1
    attentions = getattr(up_blocks[-1], "attentions", None)
    prefixes = ["conv_norm_out.", "conv_out."]
    if attentions:
        attention = f"up_blocks.{last_up}.attentions.{len(attentions) - 1}"
        block = f"{attention}.transformer_blocks.{len(attentions[-1].transformer_blocks) - 1}"
        prefixes += [f"{attention}.proj_out."]
        prefixes += [f"{block}.{part}." for part in ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out")]
        prefixes += [f"{block}.{part}." for part in ("norm2", "attn2", "norm3", "ff")]
    return {name for name in names if name.startswith(tuple(prefixes))}


def _listing(names) -> str:
    names = sorted(names)
    return ", ".join(names[:_SHOWN]) + (f", ... and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def load_appearance_encoder(release: WeightsSource, dtype=None):
    """The release's appearance encoder as a ``UNet2DConditionModel`` (eval mode).

    Raises:
        MissingWeightsError: the folder is absent (naming ``hf download zcxu-eric/MagicAnimate``).
        ConversionError: tensors other than the release's unused output layers are missing, or
            tensors match no parameter, or shapes differ (all listed).
    """
    import torch
    from diffusers import UNet2DConditionModel

    kwargs: dict[str, Any] = {"revision": release.revision, "output_loading_info": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        encoder, info = UNet2DConditionModel.from_pretrained(release.pretrained, subfolder=APPEARANCE_FOLDER, **kwargs)
    except OSError as exc:
        raise missing("the appearance encoder", release, RELEASE_ID, RELEASE_LAYOUT, exc) from exc
    names = list(encoder.state_dict())
    allowed = unused_encoder_keys(names, list(encoder.up_blocks))
    lacking = set(info["missing_keys"]) - allowed
    problems = []
    if lacking:
        problems.append(f"{len(lacking)} tensor(s) missing [{_listing(lacking)}]")
    if info["unexpected_keys"]:
        problems.append(
            f"{len(info['unexpected_keys'])} tensor(s) match no parameter [{_listing(info['unexpected_keys'])}]"
        )
    if info["mismatched_keys"]:
        problems.append(f"{len(info['mismatched_keys'])} tensor(s) of the wrong shape")
    if problems:
        raise ConversionError(f"appearance encoder {release.text!r}: " + "; ".join(problems))
    # the tolerated tensors are left on the meta device by from_pretrained: give them zeros
    reference = next(p for p in encoder.parameters() if p.device.type != "meta")
    for name in info["missing_keys"]:
        module_name, _, leaf = name.rpartition(".")
        module = encoder.get_submodule(module_name)
        old = getattr(module, leaf)
        fresh = torch.zeros(old.shape, dtype=reference.dtype, device=reference.device)
        if isinstance(old, torch.nn.Parameter):
            setattr(module, leaf, torch.nn.Parameter(fresh, requires_grad=False))
        else:
            module.register_buffer(leaf, fresh)
    return encoder.eval()
