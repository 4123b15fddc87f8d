"""Reference attention: which blocks pair up, what is stored, who reads it, and what the reader computes."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from amg_bench.methods.magicanimate.reference_attention import (
    ReferenceBank,
    ReferenceReadProcessor,
    install_reference_attention,
    pair_blocks,
    reference_blocks,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MID = "mid_block.attentions.0.transformer_blocks.0"
UP0 = "up_blocks.1.attentions.0.transformer_blocks.0"
UP1 = "up_blocks.1.attentions.1.transformer_blocks.0"


@pytest.fixture(scope="module")
def pipe():
    from magicanimate_for_tests import tiny_pipeline

    return tiny_pipeline(seed=1)


def test_blocks_pair_by_width_in_the_releases_order():
    from diffusers import UNetMotionModel
    from magicanimate_for_tests import tiny_unet2d

    from amg_bench.methods.magicanimate.motion_unet import motion_adapter_for

    # SD-like widths (mid 64, up 32): mid block first, then the up blocks in module order
    encoder = tiny_unet2d(0)
    assert [name for name, _ in reference_blocks(encoder)] == [MID, UP0, UP1]
    # widths that grow upwards (mid 32, up 64): the stable sort by width puts the up blocks first
    wide = {"block_out_channels": (64, 32)}
    encoder = tiny_unet2d(0, **wide)
    unet = UNetMotionModel.from_unet2d(tiny_unet2d(1, **wide), motion_adapter_for(dict(encoder.config)))
    assert [name for name, _ in reference_blocks(encoder)] == [UP0, UP1, MID]
    assert [name for name, _ in reference_blocks(unet)] == [UP0, UP1, MID]  # motion modules never hooked
    assert pair_blocks(unet, encoder) == [(UP0, UP0), (UP1, UP1), (MID, MID)]


def test_reader_attends_to_own_then_reference_tokens_on_conditional_rows_only():
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4, bias=False).eval()
    frames, tokens, ref_tokens = 3, 5, 4
    hidden = torch.randn(2 * frames, tokens, 8)  # [unconditional frames, conditional frames]
    reference = torch.randn(1, ref_tokens, 8)
    bank = ReferenceBank(1)
    bank.features[0] = reference
    attn.set_processor(ReferenceReadProcessor(bank, 0, AttnProcessor2_0()))

    def by_hand(query_rows, context_rows):
        q, k, v = attn.to_q(query_rows), attn.to_k(context_rows), attn.to_v(context_rows)
        heads = lambda x: x.reshape(len(x), -1, 2, 4).transpose(1, 2)  # noqa: E731
        weights = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(4), dim=-1)
        out = (weights @ heads(v)).transpose(1, 2).reshape(len(q), -1, 8)
        return attn.to_out[0](out)

    with torch.no_grad():
        with bank.reading(guided=True):
            got = attn(hidden)
        expected_cond = by_hand(hidden[frames:], torch.cat([hidden[frames:], reference.expand(frames, -1, -1)], 1))
        torch.testing.assert_close(got[frames:], expected_cond, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got[:frames], by_hand(hidden[:frames], hidden[:frames]), atol=1e-5, rtol=1e-5)
        with bank.reading(guided=False):  # no guidance: every row is conditional
            all_rows = attn(hidden)
        expected = by_hand(hidden, torch.cat([hidden, reference.expand(2 * frames, -1, -1)], 1))
        torch.testing.assert_close(all_rows, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(attn(hidden), by_hand(hidden, hidden), atol=1e-5, rtol=1e-5)  # bank idle


def unet_inputs(pipe, seed=0):
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn((2, 4, 16, 8, 8), generator=generator)
    text = torch.randn((2 * 16, pipe.tokenizer.model_max_length, 32), generator=generator)
    return sample, torch.tensor(500), text


def test_reference_changes_the_conditional_branch_and_leaves_the_unconditional_one(pipe):
    sample, t, text = unet_inputs(pipe)
    reference = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(3))
    plain_unet = copy.deepcopy(pipe.unet)
    plain_unet.set_attn_processor(
        {name: type(p.base)() if hasattr(p, "base") else p for name, p in plain_unet.attn_processors.items()}
    )
    bank = pipe.reference_bank
    with torch.no_grad():
        bank.clear()
        with bank.writing():
            pipe.appearance_encoder(reference, t, encoder_hidden_states=text[:1], return_dict=False)
        with bank.reading(guided=True):
            with_reference = pipe.unet(sample, t, encoder_hidden_states=text, return_dict=False)[0]
        without = pipe.unet(sample, t, encoder_hidden_states=text, return_dict=False)[0]
        plain = plain_unet(sample, t, encoder_hidden_states=text, return_dict=False)[0]
    torch.testing.assert_close(with_reference[0], without[0], atol=1e-5, rtol=1e-5)  # unconditional: untouched
    assert (with_reference[1] - without[1]).abs().max() > 1e-2  # conditional: follows the reference
    torch.testing.assert_close(without, plain, atol=1e-5, rtol=1e-5)  # idle processors are plain attention


def test_encoder_stores_each_blocks_self_attention_input(pipe):
    captured = {}
    hooks = [
        block.norm1.register_forward_hook(lambda module, args, out, name=name: captured.setdefault(name, out))
        for name, block in reference_blocks(pipe.appearance_encoder)
    ]
    bank = pipe.reference_bank
    _, t, text = unet_inputs(pipe)
    try:
        with torch.no_grad(), bank.writing():
            pipe.appearance_encoder(torch.randn(1, 4, 8, 8), t, encoder_hidden_states=text[:1], return_dict=False)
    finally:
        for hook in hooks:
            hook.remove()
    names = [name for name, _ in reference_blocks(pipe.appearance_encoder)]
    for slot, name in enumerate(names):
        torch.testing.assert_close(bank.features[slot], captured[name], rtol=0, atol=0)
    bank.clear()
    with pytest.raises(Exception, match="not written"), bank.reading(guided=True):
        pass


def test_encoder_runs_on_the_clean_reference_at_each_timestep(pipe, monkeypatch):
    seen = []
    original = pipe.appearance_encoder.forward

    def spy(sample, timestep, *args, **kwargs):
        seen.append((sample.clone(), int(timestep)))
        return original(sample, timestep, *args, **kwargs)

    monkeypatch.setattr(pipe.appearance_encoder, "forward", spy)
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    pose = rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8)
    pipe(reference, pose, num_inference_steps=3, generator=torch.Generator().manual_seed(0), size=16)
    assert [t for _, t in seen] == [667, 334, 1]  # DDIM leading spacing, steps_offset 1: one call per step
    with torch.no_grad():
        clean = pipe.encode_reference(reference)
    for sample, _ in seen:
        torch.testing.assert_close(sample, clean, rtol=0, atol=0)
    pipe.reference_bank = install_reference_attention(pipe.unet, pipe.appearance_encoder)  # again: unwraps, never nests
    processor = pipe.unet.get_submodule(MID).attn1.processor
    assert processor.bank is pipe.reference_bank and type(processor.base).__name__ == "AttnProcessor2_0"
