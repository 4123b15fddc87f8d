"""Reference attention as diffusers attention processors: the appearance encoder writes, the denoiser reads.

What the release does (``models/mutual_self_attention.py``, ``ReferenceAttentionControl`` with
``fusion_blocks="midup"``): every spatial ``BasicTransformerBlock`` of the mid block and the up
blocks is hooked in the appearance encoder ("write") and in the denoising UNet ("read"). Each
step, the encoder runs on the clean reference latent at the current timestep and every hooked
block stores the input of its self-attention (the ``norm1`` output, ``(1, L, C)``). In the
denoiser, the matching block's self-attention takes its keys and values from its own tokens
followed by the stored ones, repeated for every frame; the unconditional half of
classifier-free guidance is recomputed with plain self-attention, so it never sees the
reference. The blocks of both networks are listed mid block first, then the up blocks, in
module order, and stably sorted by width (``norm1``'s size), widest first; the i-th of one list
pairs with the i-th of the other (10 pairs in SD 1.5).

Here that is two attention processors sharing one :class:`ReferenceBank`: the denoiser's motion
modules are excluded (the release's motion blocks are another class), and outside a
``bank.writing()`` / ``bank.reading()`` block both processors are plain self-attention.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ...errors import MethodError


class ReferenceBank:
    """The appearance features of one denoising step, slot ``i`` for the ``i``-th block pair.

    Attributes:
        features: per slot, the stored ``(1, L, C)`` self-attention input, or ``None``.
        mode: ``"off"``, ``"write"`` or ``"read"``.
        guided: while reading, whether the batch is ``[unconditional, conditional]`` halves.
    """

    def __init__(self, slots: int) -> None:
        self.features: list[torch.Tensor | None] = [None] * slots
        self.mode = "off"
        self.guided = False

    @contextlib.contextmanager
    def writing(self) -> Iterator[ReferenceBank]:
        """Inside: the encoder's hooked blocks store their self-attention inputs."""
        self.mode = "write"
        try:
            yield self
        finally:
            self.mode = "off"

    @contextlib.contextmanager
    def reading(self, guided: bool) -> Iterator[ReferenceBank]:
        """Inside: the denoiser's hooked blocks attend to the stored features (conditional rows only if ``guided``)."""
        missing = [i for i, f in enumerate(self.features) if f is None]
        if missing:
            raise MethodError(f"reference attention: slots {missing} were not written by the appearance encoder")
        self.mode, self.guided = "read", guided
        try:
            yield self
        finally:
            self.mode, self.guided = "off", False

    def clear(self) -> None:
        self.features = [None] * len(self.features)


class ReferenceWriteProcessor:
    """Self-attention that also stores its input in ``bank.features[slot]`` while the bank is writing."""

    def __init__(self, bank: ReferenceBank, slot: int, base) -> None:
        self.bank, self.slot, self.base = bank, slot, base

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if self.bank.mode == "write":
            self.bank.features[self.slot] = hidden_states.detach()
        return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)


class ReferenceReadProcessor:
    """Self-attention whose keys/values are ``[own tokens, stored reference tokens]`` while the bank is reading.

    ``hidden_states`` is ``(B * T, L, C)`` frames; with guidance the first half of the rows is
    the unconditional branch and keeps plain self-attention.
    """

    def __init__(self, bank: ReferenceBank, slot: int, base) -> None:
        self.bank, self.slot, self.base = bank, slot, base

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if self.bank.mode != "read":
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        reference = self.bank.features[self.slot]
        rows = hidden_states.shape[0]
        plain_rows = rows // 2 if self.bank.guided else 0
        cond = hidden_states[plain_rows:]
        context = torch.cat([cond, reference.to(cond.dtype).expand(len(cond), -1, -1)], dim=1)
        out_cond = self.base(attn, cond, context, attention_mask, temb, **kwargs)
        if not plain_rows:
            return out_cond
        out_plain = self.base(attn, hidden_states[:plain_rows], None, attention_mask, temb, **kwargs)
        return torch.cat([out_plain, out_cond])


def reference_blocks(unet: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The hooked blocks of a UNet in pairing order: ``(name, BasicTransformerBlock)``.

    Spatial transformer blocks of ``mid_block`` then ``up_blocks`` in module order (motion
    modules excluded), stably sorted by ``norm1`` width, widest first.
    """
    from diffusers.models.attention import BasicTransformerBlock

    found = []
    for prefix in ("mid_block", "up_blocks"):
        root = getattr(unet, prefix, None)
        if root is None:
            continue
        for name, module in root.named_modules(prefix=prefix):
            if isinstance(module, BasicTransformerBlock) and ".motion_modules." not in name:
                found.append((name, module))
    return sorted(found, key=lambda item: -item[1].norm1.normalized_shape[0])


def pair_blocks(denoiser: torch.nn.Module, encoder: torch.nn.Module) -> list[tuple[str, str]]:
    """``(denoiser block, encoder block)`` names, pair ``i`` sharing slot ``i``.

    Raises:
        MethodError: the two networks have different numbers or widths of hooked blocks.
    """
    readers, writers = reference_blocks(denoiser), reference_blocks(encoder)
    widths = [[b.norm1.normalized_shape[0] for _, b in blocks] for blocks in (readers, writers)]
    if widths[0] != widths[1]:
        raise MethodError(
            f"the appearance encoder does not match the UNet: hooked block widths {widths[1]} vs {widths[0]}"
        )
    return [(r, w) for (r, _), (w, _) in zip(readers, writers)]


def install_reference_attention(denoiser: torch.nn.Module, encoder: torch.nn.Module) -> ReferenceBank:
    """Give the paired blocks' self-attentions the write / read processors; return their shared bank.

    Idempotent: processors already installed are replaced, their base processors kept.
    """
    pairs = pair_blocks(denoiser, encoder)
    bank = ReferenceBank(len(pairs))
    for slot, (reader, writer) in enumerate(pairs):
        for model, name, kind in (
            (denoiser, reader, ReferenceReadProcessor),
            (encoder, writer, ReferenceWriteProcessor),
        ):
            attn = model.get_submodule(name).attn1
            base = attn.processor
            if isinstance(base, (ReferenceReadProcessor, ReferenceWriteProcessor)):
                base = base.base
            attn.set_processor(kind(bank, slot, base))
    return bank
