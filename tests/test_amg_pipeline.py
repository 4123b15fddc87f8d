"""AMG model and pipeline on tiny random components saved and re-loaded through the real paths."""

import json

import numpy as np
import pytest
import torch
from modelscope_for_tests import randomize_trainable, save_base_folder, tiny_base_components

from amg_bench.errors import MissingWeightsError
from amg_bench.methods.amg.components import BASE_MODEL_ID, load_base_components
from amg_bench.methods.amg.pipeline import AMGPipeline, center_crop_to_aspect
from amg_bench.methods.amg.unet import add_lora, lora_layers, make_amg_unet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("amg") / "base"
    save_base_folder(tiny_base_components(seed=0), folder)
    return folder


@pytest.fixture()
def pipe(base_dir):
    pipe = AMGPipeline.from_base(base_dir)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def condition_video(seed=0, frames=16, height=20, width=24):
    return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)


def test_fresh_amg_unet_equals_base_exactly(base_dir):
    unet = load_base_components(base_dir)["unet"]
    generator = torch.Generator().manual_seed(0)
    noisy = torch.randn(1, 4, 16, 8, 8, generator=generator)
    condition = torch.randn(1, 4, 16, 8, 8, generator=generator)
    text = torch.randn(1, 16, 32, generator=generator)
    with torch.no_grad():
        base = unet(noisy, 951, encoder_hidden_states=text).sample
        make_amg_unet(unet)
        amg = unet(torch.cat([noisy, condition], dim=1), 951, encoder_hidden_states=text).sample
    assert unet.config.in_channels == 8 and unet.conv_in.weight.shape[1] == 8
    assert torch.equal(amg, base)


def test_lora_targets_every_spatial_and_temporal_attention():
    from diffusers import UNet3DConditionModel

    with torch.device("meta"):
        unet = UNet3DConditionModel()  # the ms-1.7b architecture
        base_keys = len(unet.state_dict())
        assert add_lora(unet) == 264
    layers = set(lora_layers(unet))
    names = [name for name, module in unet.named_modules() if module in layers]
    spatial = {n.split(".transformer_blocks")[0] for n in names if ".attentions." in n}
    temporal = {
        n.split(".transformer_blocks")[0] for n in names if ".temp_attentions." in n or n.startswith("transformer_in.")
    }
    assert (len(spatial), len(temporal)) == (16, 17)
    assert {n.rsplit(".attn", 1)[1] for n in names} == {
        f"{a}.{p}" for a in "12" for p in ("to_q", "to_k", "to_v", "to_out.0")
    }
    lora_keys = [k for k in unet.state_dict() if ".lora_" in k]
    assert (base_keys, len(lora_keys)) == (1480, 528)


def test_lora_initialisation_matches_release():
    torch.manual_seed(0)
    layer = torch.nn.Module()  # the module path of a spatial attention: down.attentions.0.transformer_blocks.0.attn1
    layer.conv_in = torch.nn.Conv2d(4, 8, 3)
    layer.down = torch.nn.Module()
    layer.down.attentions = torch.nn.ModuleList([torch.nn.Module()])
    block = torch.nn.Module()
    block.attn1 = torch.nn.Module()
    block.attn1.to_q = torch.nn.Linear(512, 512, bias=False)
    layer.down.attentions[0].transformer_blocks = torch.nn.ModuleList([block])
    add_lora(layer)
    (lora,) = lora_layers(layer)
    down, up = lora.lora_A["default"].weight, lora.lora_B["default"].weight
    assert down.shape == (4, 512) and up.shape == (512, 4)
    assert abs(down.std().item() - 1 / 4) < 0.02  # normal, std 1/rank
    assert torch.count_nonzero(up) == 0 and lora.scaling["default"] == 1.0


def test_condition_matters_only_through_new_conv_channels(pipe):
    generator = torch.Generator().manual_seed(1)
    noisy = torch.randn(1, 4, 16, 8, 8, generator=generator)
    text = torch.randn(1, 16, 32, generator=generator)
    conditions = torch.randn(2, 1, 4, 16, 8, 8, generator=generator)

    def run(condition):
        with torch.no_grad():
            return pipe.unet(torch.cat([noisy, condition], dim=1), 501, encoder_hidden_states=text).sample

    assert torch.equal(run(conditions[0]), run(conditions[1]))
    with torch.no_grad():
        pipe.unet.conv_in.weight[:, 4:].normal_(0, 0.1, generator=generator)
    assert not torch.allclose(run(conditions[0]), run(conditions[1]), atol=1e-4)


def test_guidance_branches_share_the_condition(pipe):
    randomize_trainable(pipe.unet)
    seen = []
    hook = pipe.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((args[0].clone(), kwargs["encoder_hidden_states"].clone())),
        with_kwargs=True,
    )
    video = condition_video()
    pipe(
        "a person walks",
        video,
        num_inference_steps=2,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
    )
    hook.remove()
    expected_condition = pipe.encode_video(pipe.preprocess_video(video, 16, 16), torch.Generator().manual_seed(0))[0]
    empty = pipe.encode_prompt([""], "cpu")[0]
    prompt = pipe.encode_prompt(["a person walks"], "cpu")[0]
    assert len(seen) == 2
    for sample, text in seen:
        assert sample.shape == (2, 8, 16, 8, 8)
        assert torch.equal(sample[0, 4:], sample[1, 4:])  # the unconditional branch keeps the condition
        assert torch.equal(sample[0, :4], sample[1, :4])
        torch.testing.assert_close(sample[0, 4:], expected_condition)
        torch.testing.assert_close(text[0], empty)  # only the text differs
        torch.testing.assert_close(text[1], prompt)
    assert not torch.allclose(empty, prompt)


def test_changing_the_condition_changes_the_video(pipe):
    randomize_trainable(pipe.unet)

    def run(seed):
        return pipe(
            "a dancer", condition_video(seed), num_inference_steps=3, generator=torch.Generator().manual_seed(7)
        ).frames

    first, again, other = run(0), run(0), run(1)
    assert first.shape == (1, 16, 16, 16, 3)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


def test_release_scheduler(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "amg")
    scheduler = AMGPipeline.from_pretrained(tmp_path / "amg").scheduler
    scheduler.set_timesteps(20)
    assert scheduler.timesteps.tolist() == list(range(951, 0, -50))
    # VGen "linear_sd": betas linear in sqrt space, float64 in the release.
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1 - betas)
    np.testing.assert_allclose(scheduler.alphas_cumprod.numpy(), alphas_cumprod, rtol=1e-5)
    # One DDIM step (eta 0) as the release writes it: x0 from eps, then to t - 50 (clamped at 0).
    generator = torch.Generator().manual_seed(0)
    x_t, eps = torch.randn(2, 4, 2, 4, 4, generator=generator, dtype=torch.float64).unbind(0)
    for t in (951, 51, 1):
        a_t, a_prev = alphas_cumprod[t], alphas_cumprod[max(t - 50, 0)]
        x0 = x_t / np.sqrt(a_t) - np.sqrt(1 / a_t - 1) * eps
        expected = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps
        got = scheduler.step(eps.float(), t, x_t.float(), eta=0.0).prev_sample
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-5)


def test_save_and_load_round_trip(pipe, tmp_path):
    from diffusers import UNet3DConditionModel

    randomize_trainable(pipe.unet)
    pipe.save_pretrained(tmp_path / "amg")
    assert (tmp_path / "amg/unet_lora/adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "amg/unet/config.json").read_text())["in_channels"] == 8
    stock = UNet3DConditionModel.from_pretrained(tmp_path / "amg", subfolder="unet")  # a plain diffusers UNet
    assert stock.conv_in.weight.shape[1] == 8 and not lora_layers(stock)
    loaded = AMGPipeline.from_pretrained(tmp_path / "amg")
    ours, theirs = pipe.unet.state_dict(), loaded.unet.state_dict()
    assert ours.keys() == theirs.keys()
    assert [k for k in ours if not torch.equal(ours[k], theirs[k])] == []
    loaded.set_progress_bar_config(disable=True)
    kwargs = dict(num_inference_steps=2, output_type="latent")
    torch.testing.assert_close(
        loaded("a cat", condition_video(), generator=torch.Generator().manual_seed(0), **kwargs).frames,
        pipe("a cat", condition_video(), generator=torch.Generator().manual_seed(0), **kwargs).frames,
        rtol=1e-5,
        atol=1e-5,
    )


def test_missing_weights_are_named(tmp_path):
    with pytest.raises(MissingWeightsError, match="hf download damo-vilab/text-to-video-ms-1.7b"):
        load_base_components(tmp_path / "nowhere")
    with pytest.raises(MissingWeightsError, match=BASE_MODEL_ID):
        AMGPipeline.from_base(BASE_MODEL_ID)  # not in the (offline) cache
    with pytest.raises(MissingWeightsError):
        AMGPipeline.from_pretrained(tmp_path / "no_pipeline")


def test_center_crop_to_aspect():
    frames = np.zeros((2, 20, 40, 3), np.uint8)
    frames[:, :, 10:30] = 255  # the centred 20x20 square
    square = center_crop_to_aspect(frames, 10, 10)
    assert square.shape == (2, 10, 10, 3) and square.min() == 255
    assert center_crop_to_aspect(frames, 8, 16).shape == (2, 8, 16, 3)
