"""The release's weights -> a MagicAnimate pipeline folder, through the real loaders and the CLI."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from magicanimate_for_tests import TINY_ENCODER_UNUSED, release_names, save_release, tiny_motion_unet, tiny_unet2d

from amg_bench.cli import main
from amg_bench.errors import ConversionError, MissingWeightsError, OutputExistsError
from amg_bench.methods.magicanimate.appearance_encoder import load_appearance_encoder
from amg_bench.methods.magicanimate.convert import build_motion_unet, convert_release, load_release_checkpoint
from amg_bench.methods.magicanimate.motion_unet import FrameGroupNorm, WindowGroupNorm, use_release_norms
from amg_bench.methods.weights import weights_source

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return save_release(tmp_path_factory.mktemp("downloads"), seed=4)


@pytest.fixture(scope="module")
def converted(release, tmp_path_factory):
    from amg_bench.methods.magicanimate.pipeline import MagicAnimatePipeline

    out = tmp_path_factory.mktemp("weights") / "magicanimate"
    args = ["convert", "magicanimate", str(release["release"]), "--base", str(release["base"])]
    result = CliRunner().invoke(main, [*args, "--vae", str(release["vae"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "spatial UNet weights from temporal_attention.ckpt" in result.output
    return MagicAnimatePipeline.from_pretrained(out), out


def release_motion_module(state, prefix, x, heads=8, groups=8):
    """The release's VanillaTemporalModule (models/motion_module.py) written out on its own tensor names.

    ``x``: (B, C, F, H, W). Per-frame GroupNorm, proj_in, two temporal self-attentions each with
    its sinusoidal table added to its (normed) input, a GEGLU feed-forward, proj_out, residual.
    """
    p = lambda name: state[f"{prefix}.temporal_transformer.{name}"]  # noqa: E731
    b, c, f, h, w = x.shape
    frames = x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    hidden = F.group_norm(frames, groups, p("norm.weight"), p("norm.bias"), eps=1e-6)
    hidden = hidden.permute(0, 2, 3, 1).reshape(b * f, h * w, c) @ p("proj_in.weight").T + p("proj_in.bias")
    block = "transformer_blocks.0"
    for i in (0, 1):
        normed = F.layer_norm(hidden, (c,), p(f"{block}.norms.{i}.weight"), p(f"{block}.norms.{i}.bias"))
        seq = normed.reshape(b, f, h * w, c).permute(0, 2, 1, 3).reshape(b * h * w, f, c)
        seq = seq + p(f"{block}.attention_blocks.{i}.pos_encoder.pe")[:, :f]
        q, k, v = (seq @ p(f"{block}.attention_blocks.{i}.to_{n}.weight").T for n in "qkv")
        split = lambda t: t.reshape(len(t), f, heads, c // heads).transpose(1, 2)  # noqa: E731
        attn = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(c // heads), dim=-1) @ split(v)
        out = attn.transpose(1, 2).reshape(len(seq), f, c) @ p(f"{block}.attention_blocks.{i}.to_out.0.weight").T
        out = out + p(f"{block}.attention_blocks.{i}.to_out.0.bias")
        hidden = out.reshape(b, h * w, f, c).permute(0, 2, 1, 3).reshape(b * f, h * w, c) + hidden
    normed = F.layer_norm(hidden, (c,), p(f"{block}.ff_norm.weight"), p(f"{block}.ff_norm.bias"))
    proj = normed @ p(f"{block}.ff.net.0.proj.weight").T + p(f"{block}.ff.net.0.proj.bias")
    value, gate = proj.chunk(2, dim=-1)
    hidden = (value * F.gelu(gate)) @ p(f"{block}.ff.net.2.weight").T + p(f"{block}.ff.net.2.bias") + hidden
    hidden = hidden @ p("proj_out.weight").T + p("proj_out.bias")
    out = hidden.reshape(b * f, h, w, c).permute(0, 3, 1, 2) + frames
    return out.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)


def test_converted_motion_modules_compute_what_the_release_computes(converted, release):
    pipe, _ = converted
    state = torch.load(release["release"] / "temporal_attention/temporal_attention.ckpt", weights_only=True)[
        "state_dict"
    ]
    x = torch.randn((2, 64, 16, 4, 4), generator=torch.Generator().manual_seed(0))
    for name in ("down_blocks.1.motion_modules.0", "up_blocks.0.motion_modules.1"):
        module = pipe.unet.get_submodule(name)
        with torch.no_grad():
            ours = module(x.permute(0, 2, 1, 3, 4).reshape(32, 64, 4, 4), num_frames=16)
            theirs = release_motion_module(state, name, x)
        torch.testing.assert_close(ours, theirs.permute(0, 2, 1, 3, 4).reshape(32, 64, 4, 4), atol=1e-4, rtol=1e-4)


def test_checkpoint_spatial_weights_replace_sd15s_and_the_rest_is_loaded(converted, release):
    pipe, out = converted
    theirs, base = release["release_unet"].state_dict(), release["sd_unet"].state_dict()
    for name in ("conv_in.weight", "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_k.weight"):
        torch.testing.assert_close(pipe.unet.state_dict()[name], theirs[name], rtol=0, atol=0)
        assert not torch.equal(theirs[name], base[name])
    ours = pipe.unet.state_dict()
    assert set(ours) == set(theirs) and all(torch.equal(ours[k], theirs[k]) for k in theirs)
    encoder = pipe.appearance_encoder.state_dict()
    source = release["appearance_encoder"].state_dict()
    kept = [k for k in source if not k.startswith(TINY_ENCODER_UNUSED)]
    assert kept and all(torch.equal(encoder[k], source[k]) for k in kept)
    assert all(not encoder[k].any() for k in source if k.startswith(TINY_ENCODER_UNUSED))  # tolerated: zeros
    assert {p.name for p in out.iterdir()} >= {"unet", "appearance_encoder", "controlnet", "vae", "scheduler"}


def test_scheduler_of_the_folder_is_the_releases(converted):
    pipe, _ = converted
    config = dict(pipe.scheduler.config)
    expected = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear", "clip_sample": False,
                "set_alpha_to_one": True, "steps_offset": 1, "timestep_spacing": "leading"}  # fmt: skip
    assert {k: config[k] for k in expected} == expected and type(pipe.scheduler).__name__ == "DDIMScheduler"


def state_of(unet):
    return release_names(unet.state_dict())


def test_unknown_and_missing_tensors_are_listed():
    source = tiny_motion_unet(seed=5)
    state = state_of(source)
    extra = {
        **state,
        "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.2.to_q.weight": torch.zeros(
            1
        ),
    }
    with pytest.raises(ConversionError, match=r"1 motion-module tensor\(s\) map to nothing.*attention_blocks\.2"):
        build_motion_unet(tiny_unet2d(0), extra)
    odd = {**state, "up_blocks.1.resnets.0.extra.weight": torch.zeros(1)}
    with pytest.raises(
        ConversionError, match=r"1 spatial tensor\(s\) match no parameter \[up_blocks\.1\.resnets\.0\.extra"
    ):
        build_motion_unet(tiny_unet2d(0), odd)
    gone = "up_blocks.1.motion_modules.1.temporal_transformer.transformer_blocks.0.norms.1.weight"
    with pytest.raises(
        ConversionError,
        match=r"1 motion parameter\(s\) missing \[up_blocks\.1\.motion_modules\.1\.transformer_blocks\.0\.norm2\.weight\]",
    ):
        build_motion_unet(tiny_unet2d(0), {k: v for k, v in state.items() if k != gone})
    partial = {k: v for k, v in state.items() if k != "conv_in.bias"}
    with pytest.raises(ConversionError, match=r"1 spatial parameter\(s\) missing \[conv_in\.bias\]"):
        build_motion_unet(tiny_unet2d(0), partial)
    table = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"
    with pytest.raises(ConversionError, match="position tables differ"):
        build_motion_unet(tiny_unet2d(0), {**state, table: state[table] + 1})


def test_motion_only_checkpoint_keeps_sd15_spatial_weights():
    source, sd = tiny_motion_unet(seed=5), tiny_unet2d(seed=9)
    motion_only = {k: v for k, v in state_of(source).items() if ".motion_modules." in k}
    expected = {k: v.clone() for k, v in sd.state_dict().items()}
    unet, spatial = build_motion_unet(sd, motion_only)
    assert spatial == 0 and torch.equal(unet.state_dict()["conv_in.weight"], expected["conv_in.weight"])
    name = "up_blocks.0.motion_modules.0.proj_out.weight"
    assert torch.equal(unet.state_dict()[name], source.state_dict()[name])


def test_checkpoint_wrappers_are_stripped(tmp_path):
    state = state_of(tiny_motion_unet(seed=5))
    path = tmp_path / "temporal_attention.ckpt"
    torch.save({"state_dict": {f"module.unet.{k}": v for k, v in state.items()}, "global_step": 3}, path)
    assert set(load_release_checkpoint(path)) == set(state)
    torch.save({"state_dict": {"module.conv_in.weight": torch.zeros(1), "conv_in.weight": torch.zeros(1)}}, path)
    with pytest.raises(ConversionError, match="both become 'conv_in.weight'"):
        load_release_checkpoint(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ConversionError, match="cannot read checkpoint"):
        load_release_checkpoint(path)


def test_appearance_encoder_tolerates_only_the_releases_unused_layers(release, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    encoder = load_appearance_encoder(weights_source(str(release["release"]), "CKPT_DIR"))
    assert not any(p.device.type == "meta" for p in encoder.parameters())
    broken = tmp_path / "MagicAnimate"
    shutil.copytree(release["release"] / "appearance_encoder", broken / "appearance_encoder")
    weights = broken / "appearance_encoder" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    state.pop(
        "up_blocks.1.attentions.1.transformer_blocks.0.norm1.weight"
    )  # used: reference attention stores its output
    save_file(state, weights)
    with pytest.raises(
        ConversionError,
        match=r"1 tensor\(s\) missing \[up_blocks\.1\.attentions\.1\.transformer_blocks\.0\.norm1\.weight\]",
    ):
        load_appearance_encoder(weights_source(str(broken), "CKPT_DIR"))


def test_missing_downloads_are_named(release, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(MissingWeightsError, match=r"hf download zcxu-eric/MagicAnimate --local-dir .*nowhere"):
        convert_release(tmp_path / "nowhere", out, base=str(release["base"]), vae=str(release["vae"]))
    with pytest.raises(MissingWeightsError, match="hf download stable-diffusion-v1-5/stable-diffusion-v1-5"):
        convert_release(release["release"], out, base=str(tmp_path / "sd"), vae=str(release["vae"]))
    with pytest.raises(MissingWeightsError, match="hf download stabilityai/sd-vae-ft-mse"):
        convert_release(release["release"], out, base=str(release["base"]), vae="hub:stabilityai/sd-vae-ft-mse")
    assert not out.exists()
    out.mkdir()
    with pytest.raises(OutputExistsError):
        convert_release(release["release"], out)


def test_release_norms_are_restored_exactly_where_the_release_has_them():
    unet = tiny_motion_unet(seed=6)
    use_release_norms(unet)
    use_release_norms(unet)  # idempotent
    kinds = {name: type(m) for name, m in unet.named_modules() if isinstance(m, torch.nn.GroupNorm)}
    for name, kind in kinds.items():
        if ".resnets." in name or name == "conv_norm_out":
            assert kind is WindowGroupNorm, name
        elif ".motion_modules." in name and name.endswith(".norm"):
            assert kind is FrameGroupNorm, name
        else:
            assert kind is torch.nn.GroupNorm, name  # spatial transformers normalise per frame in both
    assert any(".mid_block.resnets." in f".{n}" for n, k in kinds.items() if k is WindowGroupNorm)
    norm = unet.get_submodule("mid_block.resnets.0.norm1")
    x = torch.randn((2 * 16, norm.num_channels, 3, 3))
    unet._frame_count.frames = 16
    window = x.reshape(2, 16, -1, 3, 3).transpose(1, 2)  # (B, C, F, H, W), as the release's ResnetBlock3D sees it
    expected = torch.nn.functional.group_norm(window, norm.num_groups, norm.weight, norm.bias, norm.eps)
    torch.testing.assert_close(norm(x), expected.transpose(1, 2).reshape(x.shape), atol=1e-5, rtol=1e-5)
