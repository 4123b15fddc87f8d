"""Release parameter names -> names in our diffusers UNet3D + peft LoRA layout.

Pure string rules, no torch, so they can be read and tested on their own. The released AMG
checkpoint (VGen / InstructVideo code) names the UNet the ModelScope way; the renaming is the one
diffusers' ``scripts/convert_ms_text_to_video_to_diffusers.py`` encodes (that script fails on
diffusers 0.42 and knows neither LoRA nor the 8-channel first conv, so the rules are restated
here). Input block ``i >= 1`` is down block ``(i - 1) // (L + 1)``, layer ``(i - 1) % (L + 1)``
where ``L`` is ``layers_per_block`` and the last layer of a level is its downsampler; output
block ``i`` is up block ``i // (L + 1)``, layer ``i % (L + 1)``. Inside a block ``.0`` is the
resnet (its ``temopral_conv`` -> ``temp_convs``), ``.1`` the spatial transformer, ``.2`` the
temporal one, and a trailing ``.conv`` module the upsampler. The release's LoRA siblings
``to_X_lora.{down,up}_linear.weight`` become peft's ``to_X.lora_{A,B}.weight`` (``to_out`` ->
``to_out.0``), without transposing.

A name that follows none of these rules maps to ``None``: the converter lists such names and
stops, it never drops one silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: ModelScope ResBlock parts -> diffusers ResnetBlock2D parts.
RESNET_PARTS = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "emb_layers.1": "time_emb_proj",
    "skip_connection": "conv_shortcut",
}

#: Top-level modules outside the blocks.
TOP_LEVEL = {
    "time_embed.0": "time_embedding.linear_1",
    "time_embed.2": "time_embedding.linear_2",
    "input_blocks.0.0": "conv_in",
    "out.0": "conv_norm_out",
    "out.2": "conv_out",
}

_PARAM = r"(?P<param>weight|bias)"
_TEMPORAL_CONV = re.compile(r"temopral_conv\.(?P<rest>conv[1-4]\.\d+\.(?:weight|bias))")
_RESNET = re.compile(r"(?P<part>" + "|".join(re.escape(p) for p in RESNET_PARTS) + r")\." + _PARAM)
# Parameters of a (spatial or temporal) transformer, identical in both namings.
_TRANSFORMER = re.compile(
    r"(?:norm|proj_in|proj_out)\.(?:weight|bias)"
    r"|transformer_blocks\.\d+\.(?:"
    r"attn[12]\.to_[qkv]\.weight|attn[12]\.to_out\.0\.(?:weight|bias)"
    r"|norm[123]\.(?:weight|bias)|ff\.net\.0\.proj\.(?:weight|bias)|ff\.net\.2\.(?:weight|bias))"
)
_LORA = re.compile(
    r"(?P<block>transformer_blocks\.\d+\.attn[12])\.to_(?P<proj>[qkv]|out)_lora\.(?P<side>down|up)_linear\.weight"
)
_TEMPORAL_PROJ = re.compile(r"(?:proj_in|proj_out)\.weight")


@dataclass(frozen=True)
class MappedKey:
    """Where one release tensor goes.

    Attributes:
        name: parameter name in our UNet (peft LoRA names without the adapter name).
        drop_last_dim: the release stores it as a Conv1d weight ``(out, in, 1)``; ours is a
            Linear weight ``(out, in)``.
    """

    name: str
    drop_last_dim: bool = False


def is_lora_name(name: str) -> bool:
    """Whether a name (ours) belongs to a LoRA matrix."""
    return ".lora_A." in name or ".lora_B." in name


def _transformer(prefix: str, rest: str, temporal: bool) -> MappedKey | None:
    lora = _LORA.fullmatch(rest)
    if lora:
        proj = "to_out.0" if lora["proj"] == "out" else f"to_{lora['proj']}"
        side = "lora_A" if lora["side"] == "down" else "lora_B"
        return MappedKey(f"{prefix}.{lora['block']}.{proj}.{side}.weight")
    if not _TRANSFORMER.fullmatch(rest):
        return None
    return MappedKey(f"{prefix}.{rest}", drop_last_dim=temporal and bool(_TEMPORAL_PROJ.fullmatch(rest)))


def _resnet(block: str, layer: int, rest: str) -> MappedKey | None:
    temporal = _TEMPORAL_CONV.fullmatch(rest)
    if temporal:
        return MappedKey(f"{block}.temp_convs.{layer}.{temporal['rest']}")
    part = _RESNET.fullmatch(rest)
    if part:
        return MappedKey(f"{block}.resnets.{layer}.{RESNET_PARTS[part['part']]}.{part['param']}")
    return None


def _block_member(block: str, layer: int, index: int, rest: str) -> MappedKey | None:
    """Member ``index`` of a ModelScope block list: resnet, spatial or temporal transformer."""
    if index == 0:
        return _resnet(block, layer, rest)
    if index == 1:
        return _transformer(f"{block}.attentions.{layer}", rest, temporal=False)
    if index == 2:
        return _transformer(f"{block}.temp_attentions.{layer}", rest, temporal=True)
    return None


def map_release_key(key: str, layers_per_block: int) -> MappedKey | None:
    """Our name for one release (ModelScope / VGen) parameter name, or ``None`` if no rule fits.

    >>> map_release_key("input_blocks.1.0.in_layers.2.weight", 2).name
    'down_blocks.0.resnets.0.conv1.weight'
    >>> map_release_key("output_blocks.5.3.conv.bias", 2).name
    'up_blocks.1.upsamplers.0.conv.bias'
    >>> map_release_key("input_blocks.0.1.transformer_blocks.0.attn1.to_out_lora.up_linear.weight", 2).name
    'transformer_in.transformer_blocks.0.attn1.to_out.0.lora_B.weight'
    >>> map_release_key("input_blocks.1.0.unknown.weight", 2) is None
    True
    """
    per_level = layers_per_block + 1
    module, _, param = key.rpartition(".")
    if module in TOP_LEVEL and param in ("weight", "bias"):
        return MappedKey(f"{TOP_LEVEL[module]}.{param}")

    match = re.fullmatch(r"input_blocks\.0\.1\.(?P<rest>.+)", key)
    if match:
        return _transformer("transformer_in", match["rest"], temporal=True)

    match = re.fullmatch(r"input_blocks\.(?P<i>\d+)\.op\." + _PARAM, key)
    if match:
        i = int(match["i"])
        if i == 0 or (i - 1) % per_level != layers_per_block:
            return None
        return MappedKey(f"down_blocks.{(i - 1) // per_level}.downsamplers.0.conv.{match['param']}")

    match = re.fullmatch(r"input_blocks\.(?P<i>\d+)\.(?P<j>\d+)\.(?P<rest>.+)", key)
    if match:
        i = int(match["i"])
        if i == 0 or (i - 1) % per_level == layers_per_block:
            return None
        block, layer = f"down_blocks.{(i - 1) // per_level}", (i - 1) % per_level
        return _block_member(block, layer, int(match["j"]), match["rest"])

    match = re.fullmatch(r"middle_block\.(?P<j>[0-3])\.(?P<rest>.+)", key)
    if match:
        j, rest = int(match["j"]), match["rest"]
        if j in (0, 3):
            return _resnet("mid_block", j // 3, rest)
        return _block_member("mid_block", 0, j, rest)

    match = re.fullmatch(r"output_blocks\.(?P<i>\d+)\.(?P<j>\d+)\.(?P<rest>.+)", key)
    if match:
        i, j, rest = int(match["i"]), int(match["j"]), match["rest"]
        block, layer = f"up_blocks.{i // per_level}", i % per_level
        upsampler = re.fullmatch(r"conv\." + _PARAM, rest)
        if upsampler and j >= 1:
            return MappedKey(f"{block}.upsamplers.0.conv.{upsampler['param']}") if layer == layers_per_block else None
        return _block_member(block, layer, j, rest)
    return None
