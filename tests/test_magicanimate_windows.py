"""MagicAnimate's long-clip sampling: the release's window schedule, per-frame averaging, tiled noise, padding."""

from __future__ import annotations

import doctest
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from amg_bench.errors import MethodError
from amg_bench.methods.magicanimate import keys, windows
from amg_bench.methods.magicanimate.windows import context_windows, pad_frames, window_counts

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The release (pipelines/context.py, uniform schedule at step 0, stride 1, closed loop): a window
# starts every 16 - 4 = 12 frames from 0 while the start is below the length; indices wrap around.
RELEASE_WINDOWS = {
    16: [list(range(16))],
    20: [list(range(16)), [12, 13, 14, 15, 16, 17, 18, 19, 0, 1, 2, 3, 4, 5, 6, 7]],
    32: [list(range(16)), list(range(12, 28)), [24, 25, 26, 27, 28, 29, 30, 31, 0, 1, 2, 3, 4, 5, 6, 7]],
}


@pytest.mark.parametrize("frames", sorted(RELEASE_WINDOWS))
def test_window_schedule_is_the_releases(frames):
    assert context_windows(frames, 16, 4) == RELEASE_WINDOWS[frames]
    counts = window_counts(RELEASE_WINDOWS[frames], frames)
    assert counts.min() >= 1 and counts.sum() == 16 * len(RELEASE_WINDOWS[frames])  # every frame is averaged


def test_window_counts_and_padding():
    np.testing.assert_array_equal(
        window_counts(RELEASE_WINDOWS[32], 32), [2] * 8 + [1] * 4 + [2] * 4 + [1] * 8 + [2] * 4 + [1] * 4
    )
    assert context_windows(5, 16, 4) == [[0, 1, 2, 3, 4]]
    clip = np.arange(20)[:, None] * np.ones((1, 2))
    padded = pad_frames(clip, 16)
    assert padded.shape == (32, 2) and (padded[19:] == 19).all() and (padded[:20] == clip).all()
    assert pad_frames(clip[:16], 16) is not None and len(pad_frames(clip[:16], 16)) == 16
    with pytest.raises(MethodError, match="context_overlap"):
        context_windows(32, 16, 16)
    assert doctest.testmod(windows).failed == 0 and doctest.testmod(keys).failed == 0


@pytest.fixture(scope="module")
def pipe():
    from magicanimate_for_tests import tiny_pipeline

    return tiny_pipeline(seed=0)


def inputs(frames, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), rng.integers(0, 256, (frames, 16, 16, 3), dtype=np.uint8)


def test_each_frame_gets_the_mean_of_its_windows(pipe, monkeypatch):
    """A UNet that answers window k with k + 1 everywhere: the noise of a frame is the mean over its windows."""
    calls = []

    def unet(sample, *args, **kwargs):
        calls.append(sample.shape)
        return (torch.full_like(sample, float(len(calls))),)

    steps = []

    def step(model_output, t, sample, **kwargs):
        steps.append(model_output.clone())
        return SimpleNamespace(prev_sample=sample)

    monkeypatch.setattr(pipe.unet, "forward", unet)
    monkeypatch.setattr(pipe.scheduler, "step", step)
    reference, pose = inputs(20)
    out = pipe(reference, pose, num_inference_steps=1, generator=torch.Generator().manual_seed(0), size=16)
    assert out.frames.shape == (1, 20, 16, 16, 3)  # padded to 32 for sampling, trimmed back
    assert [tuple(s) for s in calls] == [(2, 4, 16, 8, 8)] * 3  # 32 frames: 3 windows, both branches batched
    per_frame = steps[0][0, 0, :, 0, 0].tolist()  # guidance of equal branches leaves the value
    expected = [2.0] * 8 + [1.0] * 4 + [1.5] * 4 + [2.0] * 8 + [2.5] * 4 + [3.0] * 4
    np.testing.assert_allclose(per_frame, expected, rtol=1e-6)


def test_noise_is_one_block_tiled(pipe):
    latents = pipe.prepare_latents(
        48, 16, 16, 16, torch.float32, torch.device("cpu"), torch.Generator().manual_seed(7), None
    )
    expected = torch.randn((1, 4, 16, 8, 8), generator=torch.Generator().manual_seed(7))
    assert latents.shape == (1, 4, 48, 8, 8)
    for block in range(3):
        torch.testing.assert_close(latents[:, :, 16 * block : 16 * (block + 1)], expected, rtol=0, atol=0)


def test_guidance_combines_unconditional_first_then_conditional(pipe, monkeypatch):
    """A UNet answering 1 on the unconditional half and 3 on the conditional one: noise = 1 + 7.5 * (3 - 1)."""

    def unet(sample, *args, **kwargs):
        out = torch.empty_like(sample)
        out[0], out[1] = 1.0, 3.0
        return (out,)

    steps = []
    monkeypatch.setattr(pipe.unet, "forward", unet)
    monkeypatch.setattr(
        pipe.scheduler,
        "step",
        lambda noise, t, sample, **kw: steps.append(noise) or SimpleNamespace(prev_sample=sample),
    )
    reference, pose = inputs(16)
    pipe(reference, pose, num_inference_steps=1, guidance_scale=7.5, size=16)
    torch.testing.assert_close(steps[0], torch.full_like(steps[0], 16.0))
