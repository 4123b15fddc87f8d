"""Turn a ModelScope text-to-video UNet into the AMG UNet: 8-channel first conv + LoRA.

The release (its ``train_net_ddp.py`` and
``unet_lora.py``): the first conv takes the noisy latent (channels 0-3, pretrained weights) and
the avatar-condition latent (channels 4-7, zero at start), its bias kept; LoRA rank 4 with scale
1 (``lora_alpha = r``; the release passes no alpha) on ``to_q/to_k/to_v/to_out.0`` of both
attentions of every spatial and temporal transformer (``transformer_in`` included), down matrix
normal with std ``1/r`` (peft's ``"gaussian"`` init) and up matrix zero. With fresh weights the
AMG UNet therefore computes exactly what the base UNet computes.

LoRA goes through peft (``inject_adapter_in_model``): diffusers 0.42's ``UNet3DConditionModel``
has no ``add_adapter``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

from ...errors import MethodError

#: Latent channels of the noisy video plus those of the avatar condition.
AMG_IN_CHANNELS = 8
LORA_RANK = 4
#: Every attention projection of every spatial (``attentions``) and temporal
#: (``temp_attentions``, ``transformer_in``) transformer, self- and cross-attention.
LORA_TARGET_MODULES = (
    r"(transformer_in|.*\.(attentions|temp_attentions)\.\d+)"
    r"\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
)
ADAPTER_NAME = "default"


def lora_config(rank: int = LORA_RANK) -> LoraConfig:
    """The release's LoRA: rank ``rank``, scale 1, gaussian(std 1/r) down, zero up, no dropout."""
    return LoraConfig(
        r=rank,
        lora_alpha=rank,
        lora_dropout=0.0,
        target_modules=LORA_TARGET_MODULES,
        init_lora_weights="gaussian",
        bias="none",
    )


def widen_conv_in(unet: torch.nn.Module, in_channels: int = AMG_IN_CHANNELS) -> None:
    """Give ``unet.conv_in`` ``in_channels`` inputs: old weights first, new channels zero, bias kept.

    Updates ``unet.config.in_channels`` so ``save_pretrained`` / ``from_pretrained`` round-trip.

    Raises:
        MethodError: the UNet already has ``in_channels`` or more inputs.
    """
    old = unet.conv_in
    if old.in_channels >= in_channels:
        raise MethodError(f"conv_in already takes {old.in_channels} channels, cannot widen to {in_channels}")
    new = torch.nn.Conv2d(
        in_channels,
        old.out_channels,
        old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels].copy_(old.weight)
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)


def add_lora(unet: torch.nn.Module, rank: int = LORA_RANK) -> int:
    """Inject the AMG LoRA layers (fresh weights, on the UNet's device and dtype).

    Returns:
        The number of projections that received a LoRA (264 in the full-size UNet: 33
        transformers x 2 attentions x 4 projections).
    """
    dtype = unet.conv_in.weight.dtype
    inject_adapter_in_model(lora_config(rank), unet, adapter_name=ADAPTER_NAME)
    layers = lora_layers(unet)
    for layer in layers:
        layer.to(dtype=dtype)
    return len(layers)


def lora_layers(unet: torch.nn.Module) -> list[LoraLayer]:
    """The peft LoRA layers of a UNet, in module order."""
    return [module for module in unet.modules() if isinstance(module, LoraLayer)]


def lora_state_dict(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """LoRA matrices named like ``...attn1.to_q.lora_A.weight`` (peft's file naming)."""
    return get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME)


def load_lora_state_dict(unet: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load LoRA matrices into an injected UNet; return the LoRA names ``state`` lacked.

    Raises:
        MethodError: ``state`` holds names that are no LoRA matrix of this UNet.
    """
    expected = set(lora_state_dict(unet))
    unknown = sorted(set(state) - expected)
    if unknown:
        raise MethodError(f"{len(unknown)} LoRA tensors match no LoRA layer of the UNet: {unknown[:5]}")
    set_peft_model_state_dict(unet, state, adapter_name=ADAPTER_NAME)
    return sorted(expected - set(state))


def is_trainable_name(name: str) -> bool:
    """AMG trains the LoRA matrices and the widened first conv, nothing else."""
    return ".lora_A." in name or ".lora_B." in name or name.startswith("conv_in.")


def trainable_state_dict(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors AMG trains, under their names in ``unet.state_dict()``."""
    return {name: tensor for name, tensor in unet.state_dict().items() if is_trainable_name(name)}


def mark_trainable(unet: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Freeze everything but the LoRA matrices and ``conv_in``; return the trainable parameters."""
    params = []
    for name, param in unet.named_parameters():
        param.requires_grad_(is_trainable_name(name))
        if param.requires_grad:
            params.append(param)
    return params


@contextlib.contextmanager
def lora_detached(unet: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Temporarily put each LoRA-wrapped projection's base layer back in its place.

    Inside the block the UNet is a plain ``UNet3DConditionModel`` (its ``state_dict`` has the
    stock names), which is what ``save_pretrained`` must write.
    """
    swapped = []
    for name, module in list(unet.named_modules()):
        if isinstance(module, LoraLayer):
            parent_name, _, child = name.rpartition(".")
            parent = unet.get_submodule(parent_name)
            swapped.append((parent, child, module))
            setattr(parent, child, module.get_base_layer())
    try:
        yield unet
    finally:
        for parent, child, module in swapped:
            setattr(parent, child, module)


def make_amg_unet(unet: torch.nn.Module, rank: int = LORA_RANK) -> torch.nn.Module:
    """Widen ``conv_in`` to 8 channels and inject fresh LoRA, in place; return the UNet."""
    widen_conv_in(unet)
    add_lora(unet, rank)
    return unet
