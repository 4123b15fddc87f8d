"""Random-weight ModelScope text-to-video components, for tests and benchmarks without downloads.

``tiny`` keeps the real structure (UNet3D with attention levels and a plain last level, two
layers per level, CLIP text model, KL VAE) at toy widths so every code path runs in
milliseconds on a CPU; every weight is random (also the ones diffusers starts at zero) so a
misplaced tensor changes outputs. ``full`` has the ms-1.7b architecture (UNet3D 320 channels,
multipliers 1, 2, 4, 4; 23-layer 1024-wide text encoder; SD 2.1 VAE) at default init, for timing.
The tokenizer is always a tiny letter-level BPE built in memory (tokenizing costs nothing here).
"""

from __future__ import annotations

import math
import os
import string
from typing import Any

import torch

from amg_bench.methods.amg.components import release_scheduler

TINY_TEXT_LENGTH = 16


def tiny_tokenizer(model_max_length: int = TINY_TEXT_LENGTH):
    """A CLIP tokenizer over lowercase letters (one token per letter, word-final forms)."""
    from transformers import CLIPTokenizer

    vocab = {"!": 0}
    for letter in string.ascii_lowercase:
        vocab[letter] = len(vocab)
    for letter in string.ascii_lowercase:
        vocab[letter + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], pad_token="!", model_max_length=model_max_length)


def _randomize(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Every weight random: norm scales 1 +- 0.1, biases +-0.1, matrices N(0, 1/fan_in)."""
    norms = (torch.nn.GroupNorm, torch.nn.LayerNorm)
    with torch.no_grad():
        for sub in module.modules():
            for name, param in sub.named_parameters(recurse=False):
                noise = torch.randn(param.shape, generator=generator)
                if param.ndim >= 2:
                    param.copy_(noise / math.sqrt(param[0].numel()))
                elif isinstance(sub, norms) and name == "weight":
                    param.copy_(1.0 + 0.1 * noise)
                else:
                    param.copy_(0.1 * noise)


def tiny_base_components(seed: int = 0) -> dict[str, Any]:
    """Tiny random UNet3D / CLIP text model / VAE / tokenizer / release DDIM (16-px frames, 8x8 latents)."""
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    generator = torch.Generator().manual_seed(seed)
    tokenizer = tiny_tokenizer()
    unet = UNet3DConditionModel(
        sample_size=8,
        block_out_channels=(16, 32, 32),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=TINY_TEXT_LENGTH,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=0,
        )
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8,
        sample_size=16,
    )
    for model in (unet, text_encoder, vae):
        _randomize(model, generator)
        model.eval()
    return {
        "unet": unet,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "vae": vae,
        "scheduler": release_scheduler(),
    }


def full_base_components(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """The ms-1.7b architecture with default-initialised random weights, built on ``device``."""
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer(model_max_length=77)
    with torch.device(device):
        unet = UNet3DConditionModel(sample_size=32)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=49408,
                hidden_size=1024,
                intermediate_size=4096,
                num_attention_heads=16,
                num_hidden_layers=23,
                max_position_embeddings=77,
                projection_dim=512,
                hidden_act="gelu",
            )
        )
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=768,
        )
    for model in (unet, text_encoder, vae):
        model.to(dtype).eval()
    return {
        "unet": unet,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "vae": vae,
        "scheduler": release_scheduler(),
    }


def save_base_folder(components: dict[str, Any], folder: str | os.PathLike) -> None:
    """Write components in the ``damo-vilab/text-to-video-ms-1.7b`` folder layout."""
    from diffusers import TextToVideoSDPipeline

    TextToVideoSDPipeline(**components).save_pretrained(str(folder))


def randomize_trainable(unet: torch.nn.Module, seed: int = 3, scale: float = 0.3) -> None:
    """Give a fresh AMG UNet trained-looking weights: non-zero LoRA up matrices and condition channels.

    (A fresh one equals the base model exactly, which would hide mistakes in loading or conversion.)
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if ".lora_B." in name or name == "conv_in.weight":
                param.add_(scale * torch.randn(param.shape, generator=generator))
