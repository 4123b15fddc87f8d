"""The ``magicanimate`` method behind ``generate()``: contract, determinism, the release's settings, errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_for_tests import write_tiny_dataset

from amg_bench.errors import MethodError, MissingWeightsError
from amg_bench.methods.base import GenerationRequest, check_output
from amg_bench.methods.magicanimate import MagicAnimate, MagicAnimateOptions
from amg_bench.methods.magicanimate.components import RELEASE_SCHEDULER, release_scheduler

BASELINE = Path(__file__).resolve().parents[1] / "baselines" / "magicanimate.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from magicanimate_for_tests import tiny_pipeline

    folder = tmp_path_factory.mktemp("magicanimate") / "pipeline"
    tiny_pipeline(seed=3).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def method(model_dir):
    return MagicAnimate(model=str(model_dir), num_inference_steps=2, size=16)


def request(seed=0, height=24, width=20, frames=16, clip_seed=0, prompt="two people dance"):
    rng = np.random.default_rng(clip_seed)
    return GenerationRequest(
        clip_id=f"clip{clip_seed}",
        prompt=prompt,
        reference_frame=rng.integers(0, 256, (32, 24, 3), dtype=np.uint8),
        pose=rng.integers(0, 256, (frames, 32, 32, 3), dtype=np.uint8),
        num_frames=frames,
        height=height,
        width=width,
        seed=seed,
    )


def test_generate_contract_and_determinism(method):
    first = method.generate(request(seed=4))
    check_output(first, request(seed=4), "magicanimate")
    assert first.dtype == np.uint8 and first.shape == (16, 24, 20, 3)
    np.testing.assert_array_equal(first, method.generate(request(seed=4)))
    assert np.abs(first.astype(int) - method.generate(request(seed=5))).max() > 0
    # the prompt is never read
    np.testing.assert_array_equal(first, method.generate(request(seed=4, prompt="a cat sleeps")))
    assert MagicAnimate.uses_prompt is False and MagicAnimate.requires == {"reference_frame", "pose"}


def test_generate_is_the_pipeline_truncated_to_uint8_and_resized(method):
    from amg_bench.video import resize

    req = request(seed=9, height=16, width=16)
    direct = method.pipeline(
        req.reference_frame, req.pose, num_inference_steps=2, generator=torch.Generator().manual_seed(9), size=16
    ).frames[0]
    expected = np.floor(direct * 255.0).astype(np.uint8)  # the release saves (x * 255).astype(uint8)
    np.testing.assert_array_equal(method.generate(req), resize(expected, 16, 16))


def test_release_scheduler_settings():
    # diffusers 0.21.4's DDIMScheduler defaults, overridden by inference.yaml's noise_scheduler_kwargs,
    # then AnimationPipeline.__init__ sets steps_offset = 1 and clip_sample = False
    v0_21_4_defaults = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
                        "trained_betas": None, "clip_sample": True, "set_alpha_to_one": True, "steps_offset": 0,
                        "prediction_type": "epsilon", "thresholding": False, "clip_sample_range": 1.0,
                        "timestep_spacing": "leading", "rescale_betas_zero_snr": False}  # fmt: skip
    inference_yaml = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear"}
    pipeline_patch = {"steps_offset": 1, "clip_sample": False}
    expected = {**v0_21_4_defaults, **inference_yaml, **pipeline_patch}
    scheduler = release_scheduler()
    assert {key: scheduler.config[key] for key in expected} == expected == RELEASE_SCHEDULER
    scheduler.set_timesteps(25)
    assert scheduler.timesteps.tolist() == list(range(961, 0, -40))  # leading spacing + offset 1: 961 ... 1
    assert float(scheduler.final_alpha_cumprod) == 1.0
    betas = np.linspace(0.00085, 0.012, 1000)  # "linear": not SD's scaled_linear
    np.testing.assert_allclose(scheduler.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-5)


def test_request_checks(method):
    no_pose = request()
    no_pose.pose = None
    with pytest.raises(MethodError, match=r"DensePose video \(dataset column 'pose_video'\).*--pose-video"):
        method.generate(no_pose)
    no_reference = request()
    no_reference.reference_frame = None
    with pytest.raises(MethodError, match="reference_frame"):
        method.generate(no_reference)
    short = request(frames=8)
    short.num_frames = 16
    with pytest.raises(MethodError, match="pose video has 8 frames"):
        method.generate(short)


def test_a_dataset_without_pose_video_is_refused(tmp_path):
    from amg_bench.evaluation.dataset import check_columns, open_split

    split = open_split(str(write_tiny_dataset(tmp_path / "ds", num_clips=1)))
    with pytest.raises(MethodError, match=r"'magicanimate' requires 'pose' \(column 'pose_video'\)"):
        check_columns(split, MagicAnimate.requires, "magicanimate")


def test_evaluate_end_to_end(model_dir, tmp_path):
    from amg_bench.evaluation.protocols import protocol_scoring
    from amg_bench.evaluation.runner import EvaluationConfig, evaluate
    from amg_bench.video import read_video

    dataset = write_tiny_dataset(tmp_path / "ds", num_clips=2, size=32, pose_video=True)
    options = {"model": str(model_dir), "num_inference_steps": 1, "size": 16}
    config = EvaluationConfig(
        method="magicanimate",
        dataset=str(dataset),
        out=tmp_path / "run",
        method_options=options,
        protocol="offline",
        scoring=protocol_scoring("offline", metrics=("motion",), grid_size=3, eval_size=(32, 32)),
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    evaluate(config)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    record = json.dumps(results)
    assert '"uses_prompt": false' in record and '"num_inference_steps": 1' in record
    videos = sorted((tmp_path / "run" / "videos").glob("*.mp4"))
    assert len(videos) == 2 and read_video(videos[0]).shape == (16, 32, 32, 3)


def test_options_file_holds_the_release_defaults():
    from amg_bench.methods.config import build_options, default_config_path, load_config

    assert build_options(MagicAnimateOptions, load_config(BASELINE), "magicanimate") == MagicAnimateOptions()
    defaults = dataclasses.asdict(MagicAnimateOptions())
    assert {k: defaults[k] for k in ("num_inference_steps", "guidance_scale", "size")} == {
        "num_inference_steps": 25,
        "guidance_scale": 7.5,
        "size": 512,
    }
    assert (defaults["context_frames"], defaults["context_overlap"], defaults["controlnet_conditioning_scale"]) == (
        16,
        4,
        1.0,
    )
    assert default_config_path("magicanimate").read_text() == BASELINE.read_text()
    for bad, match in (({"size": 100}, "multiple of 8"), ({"context_overlap": 16}, "context_overlap"),
                       ({"guidance_scale": -1.0}, "guidance_scale"), ({"steps": 3}, "has no option 'steps'")):  # fmt: skip
        with pytest.raises(MethodError, match=match):
            MagicAnimate(**bad)


def test_missing_model_names_the_downloads_and_the_converter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingWeightsError) as caught:
        MagicAnimate().load()
    message = str(caught.value)
    for needed in ("weights/magicanimate does not exist", "hf download zcxu-eric/MagicAnimate",
                   "stable-diffusion-v1-5/stable-diffusion-v1-5", "stabilityai/sd-vae-ft-mse",
                   "amg-bench convert magicanimate CKPT_DIR --out weights/magicanimate"):  # fmt: skip
        assert needed in message, needed
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingWeightsError, match="amg-bench convert magicanimate"):
        MagicAnimate(model=str(tmp_path / "empty")).load()
