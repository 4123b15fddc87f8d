"""The denoising UNet: SD 1.5 plus AnimateDiff v1 motion modules, as diffusers' ``UNetMotionModel``.

Layout (``configs/inference/inference.yaml``, ``motion_module_kwargs``): a "Vanilla" motion
module after every resnet (+ attention) of every down and up block, none in the mid block;
8 heads, one transformer block of two temporal self-attentions, sinusoidal position encoding
of at most 24 frames. That is diffusers' :class:`~diffusers.MotionAdapter` with
``motion_num_attention_heads=8``, ``motion_max_seq_length=24``, ``use_motion_mid_block=False``,
combined with the 2D UNet by ``UNetMotionModel.from_unet2d``.

Two group norms behave differently in the release's code and must be restored
(:func:`use_release_norms`); the weights are the same either way:

- the release's ``ResnetBlock3D`` (``models/resnet.py``) applies ``torch.nn.GroupNorm`` to the
  5-D ``(B, C, F, H, W)`` window, so ``norm1`` / ``norm2`` of every resnet and the UNet's
  ``conv_norm_out`` take their statistics over the frames of the window jointly; diffusers'
  resnets see ``(B*F, C, H, W)`` and normalise each frame alone;
- the release's motion module (``models/motion_module.py``, ``TemporalTransformer3DModel``)
  normalises each frame alone (it reshapes to ``(B*F, C, H, W)`` first); diffusers'
  ``AnimateDiffTransformer3D`` normalises the 5-D window jointly.

The swapped modules are ``GroupNorm`` subclasses with the same parameters, so state dicts,
``save_pretrained`` and ``from_pretrained`` are unchanged. The frame count reaches the resnet
norms through a forward pre-hook on the UNet that reads it from ``sample``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

#: The AnimateDiff v1 motion modules of the release (the MotionAdapter fields besides the widths).
V1_MOTION: dict[str, Any] = {
    "motion_num_attention_heads": 8,
    "motion_max_seq_length": 24,
    "use_motion_mid_block": False,
    "motion_transformer_layers_per_block": 1,
}


def motion_adapter_for(unet_config: dict[str, Any]):
    """An empty :class:`~diffusers.MotionAdapter` in the release's layout for a 2D UNet config.

    The motion group norm has 32 groups in the release (its default), SD 1.5's own value; the
    UNet's ``norm_num_groups`` is used so that small test UNets work too.
    """
    from diffusers import MotionAdapter

    return MotionAdapter(
        block_out_channels=tuple(unet_config["block_out_channels"]),
        motion_layers_per_block=unet_config["layers_per_block"],
        motion_norm_num_groups=unet_config["norm_num_groups"],
        **V1_MOTION,
    )


class _FrameCount:
    """Frames per window of the current UNet call, shared by its resnet norms."""

    def __init__(self) -> None:
        self.frames = 1


class WindowGroupNorm(torch.nn.GroupNorm):
    """GroupNorm over ``(B*F, C, H, W)`` frames with statistics over each window's ``F`` frames jointly."""

    def __init__(self, norm: torch.nn.GroupNorm, count: _FrameCount) -> None:
        super().__init__(
            norm.num_groups, norm.num_channels, norm.eps, norm.affine, norm.weight.device, norm.weight.dtype
        )
        self.load_state_dict(norm.state_dict())
        self.count = count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.count.frames
        if frames == 1 or x.ndim != 4:
            return super().forward(x)
        batch_frames, channels, height, width = x.shape
        window = x.reshape(batch_frames // frames, frames, channels, height, width).transpose(1, 2)
        out = F.group_norm(window, self.num_groups, self.weight, self.bias, self.eps)
        return out.transpose(1, 2).reshape(batch_frames, channels, height, width)


class FrameGroupNorm(torch.nn.GroupNorm):
    """GroupNorm over a ``(B, C, F, H, W)`` window with statistics per frame."""

    def __init__(self, norm: torch.nn.GroupNorm) -> None:
        super().__init__(
            norm.num_groups, norm.num_channels, norm.eps, norm.affine, norm.weight.device, norm.weight.dtype
        )
        self.load_state_dict(norm.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            return super().forward(x)
        batch, channels, frames, height, width = x.shape
        flat = x.transpose(1, 2).reshape(batch * frames, channels, height, width)
        out = F.group_norm(flat, self.num_groups, self.weight, self.bias, self.eps)
        return out.reshape(batch, frames, channels, height, width).transpose(1, 2)


def _set_frame_count(unet, args, kwargs) -> None:
    """Forward pre-hook: the window's frame count, read from ``sample`` ``(B, C, F, H, W)``."""
    sample = args[0] if args else kwargs["sample"]
    unet._frame_count.frames = int(sample.shape[2])


def use_release_norms(unet: torch.nn.Module) -> None:
    """Swap a ``UNetMotionModel``'s group norms for the release's behaviour (module docstring); idempotent.

    The frame count lives on the UNet (``_frame_count``, shared with its norms), so a deep copy
    of the UNet keeps working on its own.
    """
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

    if getattr(unet, "_frame_count", None) is not None:
        return
    count = _FrameCount()
    for module in list(unet.modules()):
        if isinstance(module, ResnetBlock2D):
            for name in ("norm1", "norm2"):
                norm = getattr(module, name)
                if type(norm) is torch.nn.GroupNorm:
                    setattr(module, name, WindowGroupNorm(norm, count))
        elif isinstance(module, AnimateDiffTransformer3D) and type(module.norm) is torch.nn.GroupNorm:
            module.norm = FrameGroupNorm(module.norm)
    if type(unet.conv_norm_out) is torch.nn.GroupNorm:
        unet.conv_norm_out = WindowGroupNorm(unet.conv_norm_out, count)
    unet._frame_count = count
    unet.register_forward_pre_hook(_set_frame_count, with_kwargs=True)
