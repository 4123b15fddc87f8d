"""The released-checkpoint converter: VGen / ModelScope names -> our AMG pipeline folder.

The tiny checkpoint is written with the release's naming by a reverse table enumerated here by
hand for the tiny config (not derived from the converter's rules), so a wrong converter rule
gives different weights and different outputs.
"""

import re

import pytest
import torch
from click.testing import CliRunner
from modelscope_for_tests import randomize_trainable, save_base_folder, tiny_base_components

from amg_bench.cli import main
from amg_bench.errors import ConversionError
from amg_bench.methods.amg.convert import convert_release_checkpoint
from amg_bench.methods.amg.keys import map_release_key
from amg_bench.methods.amg.pipeline import AMGPipeline

# Our module prefix -> the release's, for the tiny UNet (levels: attn, attn, plain; 2 layers each).
PREFIXES = {
    "conv_in": "input_blocks.0.0",
    "transformer_in": "input_blocks.0.1",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    "down_blocks.0.resnets.0": "input_blocks.1.0",
    "down_blocks.0.temp_convs.0": "input_blocks.1.0.temopral_conv",
    "down_blocks.0.attentions.0": "input_blocks.1.1",
    "down_blocks.0.temp_attentions.0": "input_blocks.1.2",
    "down_blocks.0.resnets.1": "input_blocks.2.0",
    "down_blocks.0.temp_convs.1": "input_blocks.2.0.temopral_conv",
    "down_blocks.0.attentions.1": "input_blocks.2.1",
    "down_blocks.0.temp_attentions.1": "input_blocks.2.2",
    "down_blocks.0.downsamplers.0.conv": "input_blocks.3.op",
    "down_blocks.1.resnets.0": "input_blocks.4.0",
    "down_blocks.1.temp_convs.0": "input_blocks.4.0.temopral_conv",
    "down_blocks.1.attentions.0": "input_blocks.4.1",
    "down_blocks.1.temp_attentions.0": "input_blocks.4.2",
    "down_blocks.1.resnets.1": "input_blocks.5.0",
    "down_blocks.1.temp_convs.1": "input_blocks.5.0.temopral_conv",
    "down_blocks.1.attentions.1": "input_blocks.5.1",
    "down_blocks.1.temp_attentions.1": "input_blocks.5.2",
    "down_blocks.1.downsamplers.0.conv": "input_blocks.6.op",
    "down_blocks.2.resnets.0": "input_blocks.7.0",
    "down_blocks.2.temp_convs.0": "input_blocks.7.0.temopral_conv",
    "down_blocks.2.resnets.1": "input_blocks.8.0",
    "down_blocks.2.temp_convs.1": "input_blocks.8.0.temopral_conv",
    "mid_block.resnets.0": "middle_block.0",
    "mid_block.temp_convs.0": "middle_block.0.temopral_conv",
    "mid_block.attentions.0": "middle_block.1",
    "mid_block.temp_attentions.0": "middle_block.2",
    "mid_block.resnets.1": "middle_block.3",
    "mid_block.temp_convs.1": "middle_block.3.temopral_conv",
    "up_blocks.0.resnets.0": "output_blocks.0.0",
    "up_blocks.0.temp_convs.0": "output_blocks.0.0.temopral_conv",
    "up_blocks.0.resnets.1": "output_blocks.1.0",
    "up_blocks.0.temp_convs.1": "output_blocks.1.0.temopral_conv",
    "up_blocks.0.resnets.2": "output_blocks.2.0",
    "up_blocks.0.temp_convs.2": "output_blocks.2.0.temopral_conv",
    "up_blocks.0.upsamplers.0.conv": "output_blocks.2.1.conv",
    "up_blocks.1.resnets.0": "output_blocks.3.0",
    "up_blocks.1.temp_convs.0": "output_blocks.3.0.temopral_conv",
    "up_blocks.1.attentions.0": "output_blocks.3.1",
    "up_blocks.1.temp_attentions.0": "output_blocks.3.2",
    "up_blocks.1.resnets.1": "output_blocks.4.0",
    "up_blocks.1.temp_convs.1": "output_blocks.4.0.temopral_conv",
    "up_blocks.1.attentions.1": "output_blocks.4.1",
    "up_blocks.1.temp_attentions.1": "output_blocks.4.2",
    "up_blocks.1.resnets.2": "output_blocks.5.0",
    "up_blocks.1.temp_convs.2": "output_blocks.5.0.temopral_conv",
    "up_blocks.1.attentions.2": "output_blocks.5.1",
    "up_blocks.1.temp_attentions.2": "output_blocks.5.2",
    "up_blocks.1.upsamplers.0.conv": "output_blocks.5.3.conv",
    "up_blocks.2.resnets.0": "output_blocks.6.0",
    "up_blocks.2.temp_convs.0": "output_blocks.6.0.temopral_conv",
    "up_blocks.2.attentions.0": "output_blocks.6.1",
    "up_blocks.2.temp_attentions.0": "output_blocks.6.2",
    "up_blocks.2.resnets.1": "output_blocks.7.0",
    "up_blocks.2.temp_convs.1": "output_blocks.7.0.temopral_conv",
    "up_blocks.2.attentions.1": "output_blocks.7.1",
    "up_blocks.2.temp_attentions.1": "output_blocks.7.2",
    "up_blocks.2.resnets.2": "output_blocks.8.0",
    "up_blocks.2.temp_convs.2": "output_blocks.8.0.temopral_conv",
    "up_blocks.2.attentions.2": "output_blocks.8.1",
    "up_blocks.2.temp_attentions.2": "output_blocks.8.2",
}
RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def release_name(ours: str) -> tuple[str, bool]:
    """The release's name of one of our state-dict names, and whether it was a Conv1d weight."""
    prefix = max((p for p in PREFIXES if ours.startswith(p + ".")), key=len)
    rest = ours[len(prefix) + 1 :]
    if ".resnets." in prefix:
        part, param = rest.rsplit(".", 1)
        rest = f"{RESNET[part]}.{param}"
    lora = re.fullmatch(r"(.*)\.(to_q|to_k|to_v|to_out\.0)\.lora_([AB])\.default\.weight", rest)
    if lora:
        proj = "to_out" if lora[2] == "to_out.0" else lora[2]
        rest = f"{lora[1]}.{proj}_lora.{'down' if lora[3] == 'A' else 'up'}_linear.weight"
    rest = rest.replace(".base_layer.", ".")
    temporal = prefix == "transformer_in" or ".temp_attentions." in prefix
    conv1d = temporal and rest in ("proj_in.weight", "proj_out.weight")
    return f"{PREFIXES[prefix]}.{rest}", conv1d


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    save_base_folder(tiny_base_components(seed=1), root / "base")
    pipe = AMGPipeline.from_base(root / "base")
    randomize_trainable(pipe.unet, seed=5, scale=0.2)
    release = {}
    for ours, tensor in pipe.unet.state_dict().items():
        name, conv1d = release_name(ours)
        release[name] = tensor.clone().unsqueeze(-1) if conv1d else tensor.clone()
    checkpoint = root / "non_ema_0640000.pth"
    torch.save(
        {
            "state_dict": release,
            "optimizer": {"state": {}, "param_groups": []},
            "scaler": {"scale": 65536.0},
            "step": 640000,
        },
        checkpoint,
    )
    return root, pipe, release, checkpoint


def unet_output(unet, seed=0):
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, 8, 4, 8, 8, generator=generator)
    text = torch.randn(1, 16, 32, generator=generator)
    with torch.no_grad():
        return unet(sample, 501, encoder_hidden_states=text).sample


def test_release_naming_counts(setup):
    _, pipe, release, _ = setup
    lora = [k for k in release if "_lora." in k]
    assert len(lora) == 23 * 2 * 4 * 2  # 11 spatial + 12 temporal transformers in the tiny UNet
    assert release["input_blocks.0.0.weight"].shape[1] == 8
    assert len(release) == len(pipe.unet.state_dict())


def test_converted_folder_reproduces_outputs(setup):
    root, pipe, _, checkpoint = setup
    out = root / "converted"
    result = CliRunner().invoke(
        main, ["convert", "amg", str(checkpoint), "--base", str(root / "base"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    converted = AMGPipeline.from_pretrained(out)
    ours, theirs = pipe.unet.state_dict(), converted.unet.state_dict()
    assert ours.keys() == theirs.keys()
    assert [k for k in ours if not torch.equal(ours[k], theirs[k])] == []
    # Same weights; outputs agree up to CPU BLAS summation order (which depends on memory alignment).
    torch.testing.assert_close(unet_output(converted.unet), unet_output(pipe.unet), rtol=1e-5, atol=1e-5)


def test_unknown_key_fails_loudly(setup, tmp_path):
    _, _, release, _ = setup
    bad = dict(release)
    bad["input_blocks.1.0.mystery_layer.weight"] = torch.zeros(3)
    bad["module.out.2.bias"] = torch.zeros(4)
    checkpoint = tmp_path / "bad.pth"
    torch.save({"state_dict": bad}, checkpoint)
    with pytest.raises(ConversionError, match="2 checkpoint key") as info:
        convert_release_checkpoint(checkpoint, tmp_path / "out", base=setup[0] / "base")
    assert "input_blocks.1.0.mystery_layer.weight" in str(info.value)
    assert "module.out.2.bias" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_missing_lora_key_fails(setup, tmp_path):
    _, _, release, _ = setup
    incomplete = {
        k: v for k, v in release.items() if k != "middle_block.2.transformer_blocks.0.attn2.to_v_lora.up_linear.weight"
    }
    checkpoint = tmp_path / "incomplete.pth"
    torch.save(incomplete, checkpoint)
    runner = CliRunner()
    result = runner.invoke(
        main, ["convert", "amg", str(checkpoint), "--base", str(setup[0] / "base"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "mid_block.temp_attentions.0.transformer_blocks.0.attn2.to_v.lora_B.weight" in result.output


def test_base_conv_width_is_checked(setup, tmp_path):
    _, _, release, _ = setup
    four = dict(release)
    four["input_blocks.0.0.weight"] = four["input_blocks.0.0.weight"][:, :4].clone()
    checkpoint = tmp_path / "four.pth"
    torch.save({"state_dict": four}, checkpoint)
    with pytest.raises(ConversionError, match="8 channels"):
        convert_release_checkpoint(checkpoint, tmp_path / "out", base=setup[0] / "base")


@pytest.mark.parametrize(
    "release_key, ours",
    [
        ("input_blocks.0.1.proj_in.weight", "transformer_in.proj_in.weight"),
        ("input_blocks.9.op.weight", "down_blocks.2.downsamplers.0.conv.weight"),
        ("input_blocks.11.0.temopral_conv.conv4.3.bias", "down_blocks.3.temp_convs.1.conv4.3.bias"),
        ("output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"),
        ("output_blocks.8.3.conv.weight", "up_blocks.2.upsamplers.0.conv.weight"),
        (
            "output_blocks.11.2.transformer_blocks.0.attn1.to_k_lora.down_linear.weight",
            "up_blocks.3.temp_attentions.2.transformer_blocks.0.attn1.to_k.lora_A.weight",
        ),
        ("middle_block.3.skip_connection.weight", "mid_block.resnets.1.conv_shortcut.weight"),
    ],
)
def test_full_size_names(release_key, ours):
    assert map_release_key(release_key, layers_per_block=2).name == ours


@pytest.mark.parametrize(
    "release_key",
    [
        "input_blocks.3.0.in_layers.0.weight",  # a downsampler slot holds no resnet
        "input_blocks.1.op.weight",  # and a resnet slot no downsampler
        "output_blocks.1.1.conv.weight",  # upsamplers only end a level
        "input_blocks.1.1.transformer_blocks.0.attn1.to_q.bias",
        "input_blocks.1.3.norm.weight",
    ],
)
def test_misplaced_names_are_unmapped(release_key):
    assert map_release_key(release_key, layers_per_block=2) is None
