"""Release ``temporal_attention.ckpt`` names -> diffusers names (pure string rules, no torch).

The release loads the checkpoint into its own ``UNet3DConditionModel`` (``models/unet_controlnet.py``)
with ``load_state_dict(strict=False)`` after removing a leading ``module.`` (and, in its fallback,
``unet.``), so its names are that model's. Outside the motion modules they are exactly
``UNet2DConditionModel``'s (``conv_in``, ``time_embedding``, ``down_blocks.i.resnets.j``,
``...attentions.j.transformer_blocks.k.attn1.to_q``, ...), and those tensors replace SD 1.5's.
A motion module ``{down,up}_blocks.i.motion_modules.j.temporal_transformer.X`` becomes
``{down,up}_blocks.i.motion_modules.j.X`` of a :class:`~diffusers.MotionAdapter` with, inside
``transformer_blocks.k``: ``attention_blocks.0`` / ``.1`` -> ``attn1`` / ``attn2``,
``norms.0`` / ``.1`` -> ``norm1`` / ``norm2``, ``ff_norm`` -> ``norm3``, and each attention's
sinusoidal table ``attention_blocks.{0,1}.pos_encoder.pe`` -> the block's one
``pos_embed.pe`` (both copies must be equal). Nothing else maps: a mid-block motion module (the
v1 layout has none) or any other name is reported, never dropped.
"""

from __future__ import annotations

import re

#: Prefixes the release strips before loading (training wrappers).
STRIPPED_PREFIXES = ("module.", "unet.")

_MOTION = re.compile(r"(?P<block>(?:down|up)_blocks\.\d+\.motion_modules\.\d+)\.temporal_transformer\.(?P<rest>.+)")
_PARAM = r"(?:weight|bias)"
_OUTER = re.compile(rf"(?:norm|proj_in|proj_out)\.{_PARAM}")
_INNER = re.compile(r"transformer_blocks\.(?P<k>\d+)\.(?P<rest>.+)")
_ATTENTION = re.compile(
    rf"attention_blocks\.(?P<i>[01])\.(?P<rest>to_[qkv]\.weight|to_out\.0\.{_PARAM}|pos_encoder\.pe)"
)
_NORMS = re.compile(rf"norms\.(?P<i>[01])\.(?P<param>{_PARAM})")
_FF = re.compile(rf"(?:ff\.net\.0\.proj|ff\.net\.2)\.{_PARAM}")
_FF_NORM = re.compile(rf"ff_norm\.(?P<param>{_PARAM})")


def strip_prefix(key: str) -> str:
    """``key`` without the leading ``module.`` / ``unet.`` wrappers the release also strips.

    >>> strip_prefix("module.unet.conv_in.weight")
    'conv_in.weight'
    """
    changed = True
    while changed:
        changed = False
        for prefix in STRIPPED_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def is_motion_key(key: str) -> bool:
    """Whether a (stripped) release name belongs to a motion module."""
    return ".motion_modules." in key


def map_motion_key(key: str) -> str | None:
    """The ``MotionAdapter`` name of a release motion-module name, or ``None`` if no rule fits.

    >>> map_motion_key("up_blocks.1.motion_modules.2.temporal_transformer.transformer_blocks.0.norms.1.bias")
    'up_blocks.1.motion_modules.2.transformer_blocks.0.norm2.bias'
    >>> map_motion_key("down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe")
    'down_blocks.0.motion_modules.0.transformer_blocks.0.pos_embed.pe'
    >>> map_motion_key("mid_block.motion_modules.0.temporal_transformer.norm.weight") is None
    True
    """
    match = _MOTION.fullmatch(key)
    if not match:
        return None
    block, rest = match["block"], match["rest"]
    if _OUTER.fullmatch(rest):
        return f"{block}.{rest}"
    inner = _INNER.fullmatch(rest)
    if not inner:
        return None
    prefix, rest = f"{block}.transformer_blocks.{inner['k']}", inner["rest"]
    if attention := _ATTENTION.fullmatch(rest):
        if attention["rest"] == "pos_encoder.pe":
            return f"{prefix}.pos_embed.pe"
        return f"{prefix}.attn{int(attention['i']) + 1}.{attention['rest']}"
    if norms := _NORMS.fullmatch(rest):
        return f"{prefix}.norm{int(norms['i']) + 1}.{norms['param']}"
    if ff_norm := _FF_NORM.fullmatch(rest):
        return f"{prefix}.norm3.{ff_norm['param']}"
    if _FF.fullmatch(rest):
        return f"{prefix}.{rest}"
    return None
