"""Random-weight MagicAnimate components in the official folder layouts, for tests and benchmarks.

``tiny`` keeps the real structure (a two-level SD-style UNet with cross-attention in the upper
level, AnimateDiff v1 motion modules, CLIP text model, KL VAE, ControlNet) at toy widths, every
weight random (also those diffusers starts at zero) so a misplaced tensor changes outputs.
:func:`save_release` writes what a user downloads: an SD 1.5 folder (``unet/``,
``text_encoder/``, ``tokenizer/``), an sd-vae-ft-mse folder, and a ``zcxu-eric/MagicAnimate``
folder whose ``appearance_encoder/`` lacks the tensors the release's encoder class does not
have and whose ``temporal_attention/temporal_attention.ckpt`` names the UNet the release's way
(:func:`release_names`, written out here independently of the converter). ``full`` has the SD 1.5
architecture at default init, for timing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from modelscope_for_tests import _randomize, tiny_tokenizer

from amg_bench.methods.magicanimate.components import release_scheduler

TINY_SIZE = 16  # pixels: the tiny VAE halves it, the tiny UNet halves it once more
TINY_UNET: dict[str, Any] = {
    "sample_size": 8,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}
#: What the release's AppearanceEncoderModel lacks, for TINY_UNET (its last up block is
#: up_blocks.1, whose last attention is attentions.1).
TINY_ENCODER_UNUSED = (
    "conv_norm_out.",
    "conv_out.",
    "up_blocks.1.attentions.1.proj_out.",
    "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_q.",
    "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_k.",
    "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_v.",
    "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_out.",
    "up_blocks.1.attentions.1.transformer_blocks.0.norm2.",
    "up_blocks.1.attentions.1.transformer_blocks.0.attn2.",
    "up_blocks.1.attentions.1.transformer_blocks.0.norm3.",
    "up_blocks.1.attentions.1.transformer_blocks.0.ff.",
)


def _random(model: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    _randomize(model, generator)
    return model.eval()


def tiny_unet2d(seed: int = 0, **overrides: Any):
    from diffusers import UNet2DConditionModel

    return _random(UNet2DConditionModel(**{**TINY_UNET, **overrides}), torch.Generator().manual_seed(seed))


def tiny_motion_unet(seed: int = 0):
    """A ``UNetMotionModel`` (TINY_UNET + AnimateDiff v1 motion modules), every weight random."""
    from diffusers import UNetMotionModel

    from amg_bench.methods.magicanimate.motion_unet import motion_adapter_for

    unet2d = tiny_unet2d(seed)
    adapter = _random(motion_adapter_for(dict(unet2d.config)), torch.Generator().manual_seed(seed + 100))
    return UNetMotionModel.from_unet2d(unet2d, adapter).eval()


def tiny_components(seed: int = 0) -> dict[str, Any]:
    """Everything the pipeline takes: random tiny text encoder, VAE, ControlNet, encoder, motion UNet."""
    from diffusers import AutoencoderKL, ControlNetModel
    from transformers import CLIPTextConfig, CLIPTextModel

    generator = torch.Generator().manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=tokenizer.model_max_length,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=0,
        )
    )
    vae = AutoencoderKL(
        latent_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8,
        sample_size=TINY_SIZE,
    )
    sd_unet = tiny_unet2d(seed + 1)
    controlnet = ControlNetModel.from_unet(sd_unet, conditioning_embedding_out_channels=(8, 16))
    for model in (text_encoder, vae, controlnet):
        _random(model, generator)
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": tiny_motion_unet(seed + 2),
        "controlnet": controlnet,
        "appearance_encoder": tiny_unet2d(seed + 3),
        "scheduler": release_scheduler(),
        "sd_unet": sd_unet,
    }


def tiny_pipeline(seed: int = 0):
    from amg_bench.methods.magicanimate.pipeline import MagicAnimatePipeline

    components = tiny_components(seed)
    components.pop("sd_unet")
    pipe = MagicAnimatePipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def release_names(motion_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ``UNetMotionModel`` state dict under the release's ``UNet3DConditionModel`` names.

    Spatial names are unchanged; ``...motion_modules.j.X`` -> ``...motion_modules.j.temporal_transformer.X``
    with ``attn1``/``attn2`` -> ``attention_blocks.0``/``.1``, ``norm1``/``norm2`` -> ``norms.0``/``.1``,
    ``norm3`` -> ``ff_norm``, and the block's ``pos_embed.pe`` stored once per attention.
    """
    renamed = {}
    for name, tensor in motion_state.items():
        if ".motion_modules." not in name:
            renamed[name] = tensor
            continue
        head, _, tail = name.partition(".motion_modules.")
        index, _, rest = tail.partition(".")
        prefix = f"{head}.motion_modules.{index}.temporal_transformer"
        if rest.endswith("pos_embed.pe"):
            block = rest[: -len("pos_embed.pe")]
            for i in (0, 1):
                renamed[f"{prefix}.{block}attention_blocks.{i}.pos_encoder.pe"] = tensor.clone()
            continue
        for ours, theirs in ((".attn1.", ".attention_blocks.0."), (".attn2.", ".attention_blocks.1."),
                             (".norm1.", ".norms.0."), (".norm2.", ".norms.1."), (".norm3.", ".ff_norm.")):  # fmt: skip
            rest = rest.replace(ours, theirs)
        renamed[f"{prefix}.{rest}"] = tensor
    return renamed


def save_release(root: str | os.PathLike, seed: int = 0) -> dict[str, Any]:
    """Write the three downloads in their official layouts under ``root``.

    Returns:
        the folders (``base``, ``vae``, ``release``) and the source models (``release_unet``: the
        UNetMotionModel whose weights the checkpoint holds, ``sd_unet``, ``appearance_encoder``).
    """
    from safetensors.torch import load_file, save_file

    root = Path(root)
    components = tiny_components(seed)
    base, vae, release = root / "stable-diffusion-v1-5", root / "sd-vae-ft-mse", root / "MagicAnimate"
    components["sd_unet"].save_pretrained(base / "unet")
    components["text_encoder"].save_pretrained(base / "text_encoder")
    components["tokenizer"].save_pretrained(base / "tokenizer")
    components["vae"].save_pretrained(vae)
    components["controlnet"].save_pretrained(release / "densepose_controlnet")

    encoder_dir = release / "appearance_encoder"
    components["appearance_encoder"].save_pretrained(encoder_dir)
    weights = encoder_dir / "diffusion_pytorch_model.safetensors"
    kept = {k: v for k, v in load_file(weights).items() if not k.startswith(TINY_ENCODER_UNUSED)}
    save_file(kept, weights, metadata={"format": "pt"})
    config = json.loads((encoder_dir / "config.json").read_text())
    (encoder_dir / "config.json").write_text(json.dumps({**config, "_class_name": "AppearanceEncoderModel"}))

    checkpoint = release / "temporal_attention" / "temporal_attention.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"state_dict": release_names(components["unet"].state_dict()), "global_step": 0}, checkpoint)
    return {
        "base": base,
        "vae": vae,
        "release": release,
        "release_unet": components["unet"],
        "sd_unet": components["sd_unet"],
        "appearance_encoder": components["appearance_encoder"],
    }


def full_components(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """The SD 1.5 architecture with default-initialised random weights: what the release runs, for timing."""
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from amg_bench.methods.magicanimate.motion_unet import motion_adapter_for

    with torch.device(device):
        unet2d = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)  # SD 1.5's config
        adapter = motion_adapter_for(dict(unet2d.config))
        unet = UNetMotionModel.from_unet2d(unet2d, adapter)
        controlnet = ControlNetModel.from_unet(unet2d)
        encoder = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
        text_encoder = CLIPTextModel(  # SD 1.5's: CLIP ViT-L/14's text tower
            CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                           max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu")
        )  # fmt: skip
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=512,
        )
    del unet2d
    for model in (unet, controlnet, encoder, text_encoder, vae):
        model.to(dtype).eval()
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tiny_tokenizer(model_max_length=77),
        "unet": unet,
        "controlnet": controlnet,
        "appearance_encoder": encoder,
        "scheduler": release_scheduler(),
    }
