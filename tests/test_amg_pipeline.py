"""AMG model and pipeline on tiny random components saved and re-loaded through the real paths."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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


# ---------------------------------------------------------------------- the release's sampler, written out
#: The SD VAE's latent scale (the release's ``scale_factor``).
VAE_SCALE = 0.18215


def release_alphas_cumprod():
    """VGen "linear_sd": betas linear in sqrt space from 0.00085 to 0.012 over 1000 steps, float64."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    return np.cumprod(1 - betas)


def text_features_by_hand(text_encoder, input_ids):
    """Every layer of the CLIP text model run by hand, then the final layer norm (OpenCLIP's ``ln_final``).

    The ms-1.7b text encoder holds OpenCLIP ViT-H's first 23 of 24 layers, so its last layer is the
    release's "penultimate" one, which the release follows with ``ln_final``.
    """
    config = text_encoder.config
    heads = config.num_attention_heads
    act = {"quick_gelu": lambda x: x * torch.sigmoid(1.702 * x), "gelu": F.gelu}[config.hidden_act]

    def layer_norm(module, x):
        return F.layer_norm(x, module.weight.shape, module.weight, module.bias, config.layer_norm_eps)

    def linear(module, x):
        return x @ module.weight.T + module.bias

    length = input_ids.shape[1]
    h = text_encoder.embeddings.token_embedding.weight[input_ids]
    h = h + text_encoder.embeddings.position_embedding.weight[:length]
    future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    for layer in text_encoder.encoder.layers:
        x = layer_norm(layer.layer_norm1, h)
        attn = layer.self_attn
        q, k, v = (
            linear(proj, x).unflatten(-1, (heads, -1)).transpose(1, 2)
            for proj in (attn.q_proj, attn.k_proj, attn.v_proj)
        )
        scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
        weights = scores.masked_fill(future, float("-inf")).softmax(-1)
        h = h + linear(attn.out_proj, (weights @ v).transpose(1, 2).flatten(2))
        h = h + linear(layer.mlp.fc2, act(linear(layer.mlp.fc1, layer_norm(layer.layer_norm2, h))))
    return layer_norm(text_encoder.final_layer_norm, h)


def empty_text_ids(tokenizer):
    """The empty text as OpenCLIP tokenizes it: start, end, then padding."""
    length = tokenizer.model_max_length
    return torch.tensor([[tokenizer.bos_token_id, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * (length - 2)])


def guided_run_by_hand(pipe, prompt, video, scale, steps, seed):
    """The release's sampling of ``video``'s condition, written out from the components.

    Returns ``(text features [empty, prompt], condition latent, the latent entering each step, frames)``.
    RNG order: the condition's posterior sample, then the initial noise, from one CPU generator.
    """
    generator = torch.Generator().manual_seed(seed)
    unet, vae = pipe.unet, pipe.vae
    with torch.no_grad():
        prompt_ids = pipe.tokenizer(
            [prompt], padding="max_length", max_length=pipe.tokenizer.model_max_length, return_tensors="pt"
        ).input_ids
        texts = [text_features_by_hand(pipe.text_encoder, ids) for ids in (empty_text_ids(pipe.tokenizer), prompt_ids)]

        # centre square of the frames, [-1, 1]; posterior mean + std * noise, times the VAE scale
        width = video.shape[2]
        side = video.shape[1]
        square = video[:, :, (width - side) // 2 : (width + side) // 2]
        pixels = torch.from_numpy(square).permute(0, 3, 1, 2).float() / 127.5 - 1
        posterior = vae.encode(pixels).latent_dist
        noise = torch.randn(posterior.mean.shape, generator=generator)
        condition = ((posterior.mean + posterior.std * noise) * VAE_SCALE).permute(1, 0, 2, 3)[None]

        alphas_cumprod = release_alphas_cumprod()
        stride = 1000 // steps
        latents = torch.randn(condition.shape, generator=generator).double()
        step_inputs = []
        for t in range(1000 - stride + 1, 0, -stride):  # 1 + arange(0, 1000, stride), reversed
            step_inputs.append(latents.float())
            model_input = torch.cat([latents.float(), condition], dim=1)
            uncond, cond = (unet(model_input, t, encoder_hidden_states=text).sample.double() for text in texts)
            eps = uncond + scale * (cond - uncond)
            a_t, a_prev = alphas_cumprod[t], alphas_cumprod[max(t - stride, 0)]
            x0 = (latents - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
            latents = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps  # DDIM, eta 0

        images = vae.decode(latents[0].permute(1, 0, 2, 3).float() / VAE_SCALE).sample
        frames = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
    return texts, condition, step_inputs, frames.numpy()


def test_guided_sampling_matches_the_release_written_out(pipe, monkeypatch):
    randomize_trainable(pipe.unet)
    video = condition_video(height=16, width=24)
    prompt, scale, steps, seed = "a person walks", 2.5, 2, 11
    texts, condition, step_inputs, frames = guided_run_by_hand(pipe, prompt, video, scale, steps, seed)

    asked, seen = [], []
    tokenize = type(pipe.tokenizer).__call__
    monkeypatch.setattr(
        type(pipe.tokenizer),
        "__call__",
        lambda self, text, *a, **k: asked.append(text) or tokenize(self, text, *a, **k),
    )
    hook = pipe.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((args[0].clone(), kwargs["encoder_hidden_states"].clone())),
        with_kwargs=True,
    )

    got_frames = pipe(prompt, video, steps, scale, torch.Generator().manual_seed(seed), output_type="np").frames
    hook.remove()

    # The release encodes "" for the unconditional branch (CLIP's tokenizer maps " " to the same ids,
    # so only the text asked for tells them apart).
    assert sorted(text for call in asked for text in ([call] if isinstance(call, str) else call)) == ["", prompt]
    assert len(seen) == steps
    for (sample, text), latents in zip(seen, step_inputs, strict=True):
        assert sample.shape == (2, 8, 16, 8, 8)
        for branch in range(2):  # the same noisy latent: the initial noise, then each DDIM step's output
            torch.testing.assert_close(sample[branch, :4], latents[0], rtol=1e-4, atol=1e-4)
        for branch in range(2):  # both branches keep the condition; the empty text first
            torch.testing.assert_close(sample[branch, 4:], condition[0], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(text[branch], texts[branch][0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(texts[0], texts[1])
    np.testing.assert_allclose(got_frames[0], frames, rtol=1e-4, atol=1e-4)  # the last step and the decoding


def test_text_features_are_the_last_layer_after_the_final_layer_norm(pipe):
    ids = pipe.tokenizer(["a dancer"], padding="max_length", max_length=16, return_tensors="pt").input_ids
    with torch.no_grad():
        by_hand = text_features_by_hand(pipe.text_encoder, ids)
        torch.testing.assert_close(pipe.encode_prompt(["a dancer"], "cpu"), by_hand, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            pipe.encode_prompt([""], "cpu"), text_features_by_hand(pipe.text_encoder, empty_text_ids(pipe.tokenizer))
        )


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
