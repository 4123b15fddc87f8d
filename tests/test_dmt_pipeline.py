"""DMT's pipeline pieces on tiny random ZeroScope components loaded through ``from_pretrained``."""

import math

import numpy as np
import pytest
import torch
from zeroscope_for_tests import save_zeroscope_folder

from amg_bench.errors import MethodError
from amg_bench.methods.dmt.features import (
    FEATURE_NAMES,
    SPATIAL,
    TEMPORAL,
    UPSAMPLER,
    FeatureCapture,
    truncated_forward,
)
from amg_bench.methods.dmt.inversion import ddim_invert, inversion_timesteps
from amg_bench.methods.dmt.loss import motion_loss
from amg_bench.methods.dmt.pipeline import DMTPipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FRAMES, LATENT_H, LATENT_W = 3, 8, 12  # 16 x 24 pixels through the tiny VAE (factor 2)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    folder = save_zeroscope_folder(tmp_path_factory.mktemp("dmt") / "zeroscope_v2_576w", seed=1)
    pipe = DMTPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def video(seed=0, frames=FRAMES):
    return np.random.default_rng(seed).integers(0, 256, (frames, 20, 20, 3), dtype=np.uint8)


# ---- features ---------------------------------------------------------------------------------


def test_hooks_capture_the_three_features_of_up_block_one(pipe):
    unet = pipe.unet
    block = unet.up_blocks[1]
    seen = {}
    hooks = [
        block.resnets[1].register_forward_pre_hook(lambda m, args: seen.update(resnet_in=args)),
        block.resnets[1].register_forward_hook(lambda m, args, out: seen.update(resnet_out=out)),
        block.temp_convs[1].register_forward_hook(lambda m, args, out: seen.update(temporal=out)),
        block.upsamplers[0].register_forward_hook(lambda m, args, out: seen.update(upsampler=out)),
    ]
    sample, text = randn(1, 4, FRAMES, LATENT_H, LATENT_W), randn(1, 16, 32, seed=1)
    try:
        with torch.no_grad(), FeatureCapture(unet) as capture:
            unet(sample, 501, encoder_hidden_states=text)
            features = capture.features(FRAMES)
    finally:
        for hook in hooks:
            hook.remove()
    # tiny UNet: 8x12 latent, two down-samplings (2x3), up block 0 up-samples to 4x6, up block 1 works
    # there with 32 channels and up-samples to 8x12 (ZeroScope: 40x72 latent, up block 1 at 10x18, 1280 channels)
    assert features[SPATIAL].shape == (1, FRAMES, 32, 4, 6)
    assert features[TEMPORAL].shape == (1, FRAMES, 32, 4, 6)
    assert features[UPSAMPLER].shape == (1, FRAMES, 32, 8, 12)
    # the residual branch of resnets[1], before the skip is added, written out here
    resnet = block.resnets[1]
    x, temb = seen["resnet_in"][:2]
    with torch.no_grad():
        branch = resnet.conv1(resnet.nonlinearity(resnet.norm1(x)))
        branch = branch + resnet.time_emb_proj(resnet.nonlinearity(temb))[:, :, None, None]
        branch = resnet.conv2(resnet.nonlinearity(resnet.norm2(branch)))
    assert torch.allclose(features[SPATIAL].flatten(0, 1), branch, atol=1e-5)
    assert not torch.allclose(features[SPATIAL].flatten(0, 1), seen["resnet_out"], atol=1e-2)
    assert torch.equal(features[TEMPORAL].flatten(0, 1), seen["temporal"])
    assert torch.equal(features[UPSAMPLER].flatten(0, 1), seen["upsampler"])
    frames = seen["temporal"].unflatten(0, (1, FRAMES))  # frames are (B * T) in the block: b-major
    assert torch.equal(features[TEMPORAL][0, 2], frames[0, 2])


def test_truncated_forward_gives_the_full_forwards_features_and_stops(pipe):
    unet = pipe.unet
    sample, text = randn(1, 4, FRAMES, LATENT_H, LATENT_W, seed=2), randn(1, 16, 32, seed=3)
    with torch.no_grad(), FeatureCapture(unet) as capture:
        unet(sample, 301, encoder_hidden_states=text)
        full = capture.features(FRAMES)
    later = []
    hooks = [
        unet.up_blocks[2].register_forward_hook(lambda *a: later.append("up_blocks.2")),
        unet.conv_out.register_forward_hook(lambda *a: later.append("conv_out")),
    ]
    try:
        with torch.no_grad():
            truncated = truncated_forward(unet, sample, 301, text)
    finally:
        for hook in hooks:
            hook.remove()
    assert later == [] and list(truncated) == list(FEATURE_NAMES)
    for name in FEATURE_NAMES:
        assert torch.equal(truncated[name], full[name]), name
    assert not unet.up_blocks[1]._forward_hooks and not unet.up_blocks[1].upsamplers[0]._forward_hooks


# ---- inversion --------------------------------------------------------------------------------


def test_release_inversion_timesteps(pipe):
    assert inversion_timesteps(pipe.scheduler, 999) == list(range(1, 1000))
    assert inversion_timesteps(pipe.scheduler, 8) == [1, 126, 251, 376, 501, 626, 751, 876]


def test_kept_latents_equal_the_full_inversion(pipe):
    unet, scheduler = pipe.unet, pipe.scheduler
    clean, text = randn(1, 4, FRAMES, LATENT_H, LATENT_W, seed=4), randn(1, 16, 32, seed=5)
    # the release's loop (preprocess_video_ddim.ddim_inversion), every latent kept
    alphas = scheduler.alphas_cumprod
    timesteps = [1, 251, 501, 751]
    full, latent = {}, clean.clone()
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            alpha = alphas[t]
            alpha_prev = alphas[timesteps[i - 1]] if i > 0 else scheduler.final_alpha_cumprod
            eps = unet(latent, t, encoder_hidden_states=text).sample
            pred_x0 = (latent - (1 - alpha_prev) ** 0.5 * eps) / alpha_prev**0.5
            latent = alpha**0.5 * pred_x0 + (1 - alpha) ** 0.5 * eps
            full[t] = latent
    kept = ddim_invert(unet, clean, text, scheduler, 4, keep=[251, 501])
    assert sorted(kept.latents) == [251, 501, 751] and kept.last_timestep == 751
    for t, latent in kept.latents.items():
        assert torch.allclose(latent, full[t], atol=1e-5, rtol=1e-5), t
    assert not torch.allclose(kept.latents[501], full[251], atol=1e-2)
    every = ddim_invert(unet, clean, text, scheduler, 4, keep=None)
    assert sorted(every.latents) == timesteps and every.nbytes() == 4 * kept.nbytes() // 3
    with pytest.raises(MethodError, match=r"\[700\]"):
        ddim_invert(unet, clean, text, scheduler, 4, keep=[700])


# ---- the guided step, the initial latent, the restart -----------------------------------------


def test_guidance_step_lowers_the_loss(pipe):
    source_embeds, target_embeds = randn(1, 16, 32, seed=6), randn(1, 16, 32, seed=7)
    source = randn(1, 4, FRAMES, LATENT_H, LATENT_W, seed=8)
    latents = randn(1, 4, FRAMES, LATENT_H, LATENT_W, seed=9)
    result = pipe.guidance_step(latents, 501, source, source_embeds, target_embeds, 0.05, 6)
    assert len(result.losses) == 6 and not result.latents.requires_grad
    # the first loss: source features of the inverted latent with the source prompt, target ones of the latent
    with torch.no_grad(), FeatureCapture(pipe.unet) as capture:
        pipe.unet(source, 501, encoder_hidden_states=source_embeds)
        source_features = {name: f[0] for name, f in capture.features(FRAMES).items()}
        pipe.unet(latents, 501, encoder_hidden_states=target_embeds)
        target_features = {name: f[0] for name, f in capture.features(FRAMES).items()}
    assert result.losses[0] == pytest.approx(motion_loss(source_features, target_features).item(), abs=1e-6)
    assert all(later < earlier for earlier, later in zip(result.losses, result.losses[1:])), result.losses
    # Adam's first step moves an element by the learning rate times g / (|g| + eps): at most lr, mostly lr
    single = pipe.guidance_step(latents, 501, source, source_embeds, target_embeds, 0.05, 1).latents
    moved = (single - latents).abs()
    assert moved.max() <= 0.05 + 1e-6 and moved.median() == pytest.approx(0.05, abs=1e-4)
    assert not any(p.grad is not None for p in pipe.unet.parameters())  # weights stay frozen


def test_initial_latent_is_reexpressed_then_frequency_mixed(pipe):
    pipe.scheduler.set_timesteps(4)
    clean = randn(1, 4, FRAMES, LATENT_H, LATENT_W, seed=10)
    inverted = ddim_invert(pipe.unet, clean, randn(1, 16, 32, seed=11), pipe.scheduler, 2, keep=[])  # 1, 501
    a_last, a_first = pipe.scheduler.alphas_cumprod[501].item(), pipe.scheduler.alphas_cumprod[751].item()
    eps = (inverted.last - math.sqrt(a_last) * clean) / math.sqrt(1 - a_last)
    expected = math.sqrt(a_first) * clean + math.sqrt(1 - a_first) * eps
    whole = pipe.initial_latents(inverted, clean, 751, 1, torch.Generator().manual_seed(0))
    assert torch.allclose(whole, expected, atol=1e-5)
    mixed = pipe.initial_latents(inverted, clean, 751, 4, torch.Generator().manual_seed(3))
    noise = torch.randn(expected.shape, generator=torch.Generator().manual_seed(3))
    from amg_bench.methods.dmt.latents import low_pass

    assert torch.allclose(mixed, low_pass(expected, 4) + noise - low_pass(noise, 4), atol=1e-5)


def test_denoise_step_is_guided_ddim(pipe):
    pipe.scheduler.set_timesteps(4)  # 751 -> 501
    latents = randn(1, 4, FRAMES, LATENT_H, LATENT_W, seed=13)
    target, negative = randn(1, 16, 32, seed=14), randn(1, 16, 32, seed=15)
    out = pipe.denoise_step(latents, 751, torch.cat([target, negative]), 10.0)
    with torch.no_grad():
        cond = pipe.unet(latents, 751, encoder_hidden_states=target).sample
        uncond = pipe.unet(latents, 751, encoder_hidden_states=negative).sample
    eps = uncond + 10.0 * (cond - uncond)
    a_t, a_prev = pipe.scheduler.alphas_cumprod[751].item(), pipe.scheduler.alphas_cumprod[501].item()
    x0 = (latents - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
    assert torch.allclose(out, math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps, atol=1e-4)


def test_restart_renoises_one_sampling_interval(pipe):
    pipe.scheduler.set_timesteps(5)  # interval 200
    sample = randn(1, 4, 2, 4, 4, seed=12)
    out = pipe.restart(sample, 401, torch.Generator().manual_seed(5))
    expected, generator = sample.clone(), torch.Generator().manual_seed(5)
    for k in range(200):
        beta = pipe.scheduler.betas[401 + k].item()
        expected = math.sqrt(1 - beta) * expected + math.sqrt(beta) * torch.randn(sample.shape, generator=generator)
    assert torch.allclose(out, expected, atol=1e-5)


# ---- the sampling loop -------------------------------------------------------------------------


def spy(monkeypatch, pipe):
    """Record the guided steps (timestep, lr, Adam steps), denoising steps and restarts of a pipeline call."""
    events = []

    class RecordingAdam(torch.optim.Adam):
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)
            events.append(["guide", lr, 0])

        def step(self, *args, **kwargs):
            events[-1][2] += 1
            return super().step(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    denoise, restart, guide = pipe.denoise_step, pipe.restart, pipe.guidance_step

    def guidance_step(latents, t, *args):
        result = guide(latents, t, *args)
        events[-1].insert(1, t)
        return result

    monkeypatch.setattr(pipe, "guidance_step", guidance_step)
    monkeypatch.setattr(pipe, "denoise_step", lambda x, t, *a: (events.append(("denoise", t)), denoise(x, t, *a))[1])
    monkeypatch.setattr(pipe, "restart", lambda x, t, g: (events.append(("restart", t)), restart(x, t, g))[1])
    return events


def test_schedule_lr_and_guided_steps_follow_the_options(pipe, monkeypatch):
    events = spy(monkeypatch, pipe)
    out = pipe(
        "a dog runs",
        "a render",
        video(),
        num_inference_steps=5,  # 801, 601, 401, 201, 1
        inversion_steps=5,
        max_guidance_timestep=0.8,  # sample from 601
        min_guidance_timestep=0.4,  # do not guide the last two of five
        optimization_steps=2,
        lr_range=(0.03, 0.01),
        height=16,
        width=24,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
    )
    assert out.frames.shape == (1, 4, FRAMES, LATENT_H, LATENT_W)
    guides = [tuple(e) for e in events if e[0] == "guide"]
    assert [(t, steps) for _, t, _, steps in guides] == [(601, 2), (401, 2)]
    assert [lr for _, _, lr, _ in guides] == pytest.approx([0.03, 0.01])
    flow = [e for e in events if e[0] != "guide"]
    assert flow == [
        ("denoise", 601),
        ("restart", 401),
        ("denoise", 601),
        ("denoise", 401),
        ("restart", 201),
        ("denoise", 401),
        ("denoise", 201),
        ("restart", 1),
        ("denoise", 201),
        ("denoise", 1),
    ]
    events.clear()
    pipe(
        "a dog runs",
        "a render",
        video(),
        num_inference_steps=3,
        inversion_steps=3,
        optimization_steps=1,
        restart_sampling=False,
        height=16,
        width=24,
        output_type="latent",
    )
    # int(3 * 0.6) = 1: the last of three steps is not guided; no restarts
    assert [e[0] for e in events] == ["guide", "denoise", "guide", "denoise", "denoise"]


def test_keeping_every_inverted_latent_gives_the_same_video(pipe):
    kwargs = dict(
        num_inference_steps=2, inversion_steps=4, optimization_steps=1, height=16, width=24, output_type="latent"
    )
    kept = pipe("a dog runs", "a render", video(1), generator=torch.Generator().manual_seed(2), **kwargs).frames
    every = pipe(
        "a dog runs", "a render", video(1), generator=torch.Generator().manual_seed(2), keep_all_inverted=True, **kwargs
    ).frames
    assert torch.equal(kept, every)


def test_bad_arguments_are_named(pipe):
    with pytest.raises(MethodError, match="inversion_steps=25 does not visit"):
        pipe("p", "s", video(), num_inference_steps=50, inversion_steps=25, height=16, width=24)
    with pytest.raises(MethodError, match="multiples of 2"):
        pipe("p", "s", video(), height=15, width=24)
    with pytest.raises(MethodError, match="downsample_factor"):
        pipe("p", "s", video(), height=16, width=24, downsample_factor=9)
    with pytest.raises(MethodError, match="optimization_steps must be >= 0"):
        pipe("p", "s", video(), optimization_steps=-1, height=16, width=24)
    with pytest.raises(MethodError, match="prompt must be a string"):
        pipe(None, "s", video(), height=16, width=24)
    with torch.inference_mode(), pytest.raises(MethodError, match="inference_mode"):
        pipe("p", "s", video(), num_inference_steps=2, inversion_steps=2, height=16, width=24)
