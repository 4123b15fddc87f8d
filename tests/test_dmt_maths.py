"""DMT's pure pieces against hand-computed values: SMM loss, re-expression, frequency mix, restart, schedule."""

import math

import pytest
import torch
import torch.nn.functional as F

from amg_bench.errors import MethodError
from amg_bench.methods.dmt.latents import frequency_mix, low_pass, reexpress, renoise, restart_betas
from amg_bench.methods.dmt.loss import motion_loss, smm_difference_loss
from amg_bench.methods.dmt.schedule import guidance_split, learning_rates


def feature_with_means(means, height=2, width=3, seed=0):
    """A (T, C, H, W) feature whose spatial means are ``means`` (T, C), with spatial detail around them."""
    means = torch.tensor(means, dtype=torch.float32)
    detail = torch.randn(*means.shape, height, width, generator=torch.Generator().manual_seed(seed))
    detail = detail - detail.mean(dim=(2, 3), keepdim=True)
    return means[:, :, None, None] + detail


# ---- SMM loss -------------------------------------------------------------------------------


def test_loss_on_two_frames_by_hand():
    # source means: (0, 0), (1, 0); target: (0, 0), (1, 1). Both anchors see cos = 1/sqrt(2) once and
    # their own zero difference (cosine 0) once: L = 1 - (1/sqrt(2)) / 2.
    source = feature_with_means([[0, 0], [1, 0]], seed=1)
    target = feature_with_means([[0, 0], [1, 1]], seed=2)
    assert smm_difference_loss(source, target).item() == pytest.approx(1 - 1 / (2 * math.sqrt(2)), abs=1e-6)


def test_loss_on_three_frames_by_hand():
    # anchor 0: cos 1 and -1 -> 1 - 0/3; anchor 1: cos 1 and 0 -> 1 - 1/3; anchor 2: cos -1 and 0 -> 1 + 1/3
    source = feature_with_means([[0, 0], [1, 0], [0, 1]], seed=3)
    target = feature_with_means([[0, 0], [1, 0], [0, -1]], seed=4)
    assert smm_difference_loss(source, target).item() == pytest.approx((1 + 2 / 3 + 4 / 3) / 3, abs=1e-6)


def test_equal_features_give_the_release_floor_and_no_gradient():
    source = torch.randn(4, 5, 3, 2, generator=torch.Generator().manual_seed(0))
    target = source.clone().requires_grad_(True)
    loss = smm_difference_loss(source, target)
    assert loss.item() == pytest.approx(1 / 4, abs=1e-6)  # each anchor's own zero difference counts as cosine 0
    loss.backward()
    assert target.grad.abs().max().item() < 1e-6
    total = motion_loss({"a": source, "b": 2 * source, "c": source + 1}, {"a": source, "b": 2 * source, "c": source})
    assert total.item() == pytest.approx(3 / 4, abs=1e-6)  # a shift of every frame does not move the differences


def test_loss_sees_only_spatial_means_and_is_scale_free():
    source = feature_with_means([[0, 1], [2, 0], [1, 1]], seed=5)
    target = feature_with_means([[1, 1], [0, 2], [2, 0]], seed=6)
    reference = smm_difference_loss(source, target).item()
    reshuffled = target[:, :, torch.randperm(2)][:, :, :, torch.randperm(3)]  # same means, other layout
    assert smm_difference_loss(source, reshuffled).item() == pytest.approx(reference, abs=1e-6)
    assert smm_difference_loss(3 * source, 0.5 * target).item() == pytest.approx(reference, abs=1e-6)
    assert smm_difference_loss(target, source).item() == pytest.approx(reference, abs=1e-6)


def test_loss_refuses_mismatched_features():
    with pytest.raises(MethodError, match="one shape"):
        smm_difference_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5))
    with pytest.raises(MethodError, match="differ"):
        motion_loss({"a": torch.zeros(2, 1, 1, 1)}, {"b": torch.zeros(2, 1, 1, 1)})


# ---- initial latent -------------------------------------------------------------------------


def test_reexpress_by_hand():
    # a_T = 0.25, a_s = 0.64: eps = (z - 0.5 x0) / sqrt(0.75); result = 0.8 x0 + 0.6 eps
    noisy, clean = torch.tensor([1.0, -2.0]), torch.tensor([1.0, 0.5])
    expected = 0.8 * clean + 0.6 * (noisy - 0.5 * clean) / math.sqrt(0.75)
    assert torch.allclose(reexpress(noisy, clean, 0.25, 0.64), expected, atol=1e-6)
    assert torch.allclose(reexpress(noisy, clean, 0.25, 0.25), noisy, atol=1e-6)  # same level: unchanged


def release_low_pass_frame(frame, factor):
    """One frame (C, h, w) through the release's down-then-up bilinear interpolation."""
    size = (frame.shape[-2] // factor, frame.shape[-1] // factor)
    down = F.interpolate(frame[None], size=size, mode="bilinear", align_corners=True, antialias=True)
    return F.interpolate(down, size=frame.shape[-2:], mode="bilinear", align_corners=True, antialias=True)[0]


def test_frequency_mix_keeps_the_latent_low_band_and_the_noise_high_band():
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 3, 8, 12, generator=generator) * torch.arange(1.0, 4.0)[None, None, :, None, None]
    noise = torch.randn(1, 4, 3, 8, 12, generator=generator)
    mixed = frequency_mix(latents, noise, 4)
    for f in range(3):  # frame by frame, the release's interpolation written out here
        low = release_low_pass_frame(latents[0, :, f], 4)
        high = noise[0, :, f] - release_low_pass_frame(noise[0, :, f], 4)
        assert torch.allclose(mixed[0, :, f], low + high, atol=1e-6)
    assert torch.allclose(mixed - (noise - low_pass(noise, 4)), low_pass(latents, 4), atol=1e-6)


def test_frequency_mix_of_constant_frames():
    levels = torch.tensor([0.5, -1.0, 2.0])[None, None, :, None, None]
    latents = levels.expand(1, 4, 3, 8, 12).contiguous()  # only the lowest band, a different level per frame
    noise = torch.randn(1, 4, 3, 8, 12, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(low_pass(latents, 4), latents, atol=1e-6)
    assert torch.allclose(frequency_mix(latents, torch.full_like(noise, 3.0), 4), latents, atol=1e-6)
    high = frequency_mix(latents, noise, 4) - latents
    assert high.mean().abs() < 0.05 and high.std() > 0.5  # the noise's detail, not its level


def test_frequency_mix_refuses_small_latents():
    with pytest.raises(MethodError, match="down-sampled by 4"):
        frequency_mix(torch.zeros(1, 4, 2, 3, 8), torch.zeros(1, 4, 2, 3, 8), 4)


# ---- restart ----------------------------------------------------------------------------------


def test_renoise_follows_the_forward_process():
    betas = torch.linspace(0.001, 0.02, 1000)
    picked = restart_betas(betas, 40, 20)
    assert torch.equal(picked, betas[40:60])  # the release's undo_step indices: betas[t_prev + i]
    sample = torch.randn(1, 4, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    out = renoise(sample, picked, torch.Generator().manual_seed(7))
    expected, generator = sample.clone(), torch.Generator().manual_seed(7)
    for i in range(20):
        beta = float(betas[40 + i])
        expected = math.sqrt(1 - beta) * expected + math.sqrt(beta) * torch.randn(sample.shape, generator=generator)
    assert torch.allclose(out, expected, atol=1e-6)
    # the mean shrinks by the product of sqrt(1 - beta) over the interval
    ones = torch.ones(1, 4, 16, 32, 32)
    shrink = torch.prod(torch.sqrt(1 - betas[40:60])).item()
    assert renoise(ones, picked, torch.Generator().manual_seed(1)).mean().item() == pytest.approx(shrink, abs=0.01)
    with pytest.raises(MethodError, match="leaves"):
        restart_betas(betas, 990, 20)


# ---- schedule ---------------------------------------------------------------------------------


def test_release_schedule_guides_the_first_twenty_of_fifty():
    timesteps = [981 - 20 * i for i in range(50)]
    sampled, guided = guidance_split(timesteps, 1.0, 0.6)
    assert sampled == timesteps and guided == timesteps[:20]
    sampled, guided = guidance_split([801, 601, 401, 201, 1], 0.8, 0.4)
    assert sampled == [601, 401, 201, 1] and guided == [601, 401]
    assert guidance_split([801, 601, 401, 201, 1], 1.0, 0.0)[1] == [801, 601, 401, 201, 1]
    assert guidance_split([801, 601, 401, 201, 1], 1.0, 1.0)[1] == []


def test_learning_rates_fall_linearly():
    rates = learning_rates((0.007, 0.004), 20)
    assert len(rates) == 20 and rates[0] == pytest.approx(0.007) and rates[-1] == pytest.approx(0.004)
    assert rates[1] == pytest.approx(0.007 - 0.003 / 19)
    assert learning_rates((0.03, 0.01), 3) == pytest.approx([0.03, 0.02, 0.01])
