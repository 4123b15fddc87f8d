"""The ``dmt`` method behind ``generate()``, on tiny random ZeroScope components in the Hub folder layout."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from zeroscope_for_tests import hub_cache, save_zeroscope_folder

from amg_bench.errors import MethodError, MissingWeightsError
from amg_bench.methods.base import GenerationRequest, check_output
from amg_bench.methods.dmt import DMT, DMTOptions
from amg_bench.methods.dmt.components import resize_like_release
from amg_bench.methods.dmt.method import source_prompt

BASELINE = Path(__file__).resolve().parents[1] / "baselines" / "dmt.yaml"
FAST = {"num_inference_steps": 2, "inversion_steps": 2, "optimization_steps": 2, "height": 16, "width": 24}
# the tiny tokenizer keeps 16 letters, so the release's prefix would make every prompt alike
UNPREFIXED = {**FAST, "prompt_prefix": ""}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_zeroscope_folder(tmp_path_factory.mktemp("dmt_method") / "zeroscope_v2_576w", seed=2)


@pytest.fixture(scope="module")
def method(model_dir):
    method = DMT(model=str(model_dir), device="cpu", **UNPREFIXED)
    method.load()
    return method


def request(seed=0, frames=2, height=32, width=32, clip_seed=0):
    condition = np.random.default_rng(clip_seed).integers(0, 256, (frames, 24, 24, 3), dtype=np.uint8)
    return GenerationRequest(
        clip_id=f"clip{clip_seed}",
        prompt="a woman dances in a park",
        appearance_prompts=["a woman in a red dress", "a man in a grey suit"],
        condition=condition,
        num_frames=frames,
        height=height,
        width=width,
        seed=seed,
    )


def test_generate_is_the_pipeline_on_the_render_and_caption_deterministic_per_seed(method):
    req = request(seed=4)
    video = method.generate(req)
    check_output(video, req, "dmt")
    assert video.dtype == np.uint8 and video.shape == (2, 32, 32, 3)
    # by hand: the caption is the target, the render description the source; uint8 truncated
    direct = method.pipeline(
        "a woman dances in a park",
        "a 3D render of two people as smooth coloured mannequins moving on a black background",
        req.condition,
        negative_prompt="bad quality, distortions, unrealistic, distorted image, watermark, signature",
        generator=torch.Generator().manual_seed(4),
        **FAST,
    ).frames[0]
    assert direct.shape == (2, 16, 24, 3)
    import cv2

    expected = np.stack(
        [cv2.resize(f, (32, 32), interpolation=cv2.INTER_LINEAR) for f in (direct * 255).astype(np.uint8)]
    )
    np.testing.assert_array_equal(video, expected)
    np.testing.assert_array_equal(method.generate(request(seed=4)), video)
    assert np.abs(method.generate(request(seed=5)).astype(int) - video).max() > 0


def test_prompts_carry_the_release_prefix():
    assert DMT().prompts(request()) == (
        "Amazing quality, masterpiece, a 3D render of two people as smooth coloured mannequins moving on a black "
        "background",
        "Amazing quality, masterpiece, a woman dances in a park",
    )
    assert DMT(prompt_prefix="", source_prompt="{appearance}").prompts(request())[0] == (
        "a woman in a red dress; a man in a grey suit"
    )


def test_request_checks_name_the_field(method):
    with pytest.raises(MethodError, match="condition"):
        method.generate(GenerationRequest(clip_id="c", prompt="p"))
    with pytest.raises(MethodError, match="prompt"):
        method.generate(dataclasses.replace(request(), prompt=""))
    short = request(frames=3)
    short.num_frames = 4
    with pytest.raises(MethodError, match=r"request.condition has 3 frames, request.num_frames is 4"):
        method.generate(short)
    floats = dataclasses.replace(request(), condition=request().condition.astype(np.float32))
    with pytest.raises(MethodError, match=r"clip0: request.condition must be uint8"):
        method.generate(floats)


def test_condition_is_stretched_like_the_release():
    frames = np.random.default_rng(0).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    resized = resize_like_release(frames, 320, 576)
    assert resized.shape == (2, 320, 576, 3) and resized.dtype == np.uint8
    from PIL import Image

    for frame, out in zip(frames, resized):  # the release: Image.open(...).resize((576, 320)), default filter
        np.testing.assert_array_equal(out, np.asarray(Image.fromarray(frame).resize((576, 320))))


def test_options_file_holds_the_release_defaults():
    from amg_bench.methods.config import build_options, load_config

    assert build_options(DMTOptions, load_config(BASELINE), "dmt") == DMTOptions()
    opts = DMTOptions()
    assert opts.model == "hub:cerspense/zeroscope_v2_576w"
    assert (opts.num_inference_steps, opts.inversion_steps, opts.optimization_steps) == (50, 999, 10)
    assert (opts.max_guidance_timestep, opts.min_guidance_timestep, opts.lr_range) == (1.0, 0.6, (0.007, 0.004))
    assert (opts.guidance_scale, opts.downsample_factor, opts.restart_sampling) == (10.0, 4, True)
    assert opts.negative_prompt == "bad quality, distortions, unrealistic, distorted image, watermark, signature"
    assert (opts.height, opts.width) == (320, 576)
    recorded = DMT().options_dict()
    assert {k: v for k, v in recorded.items() if k != "provenance"} == dataclasses.asdict(opts)
    assert recorded["provenance"]["guided_steps"] == 20 and recorded["provenance"]["inverted_latents_kept"] == 21
    assert "bicubic" in recorded["provenance"]["input_resize"] and "576x320" in recorded["provenance"]["input_resize"]
    assert DMT(min_guidance_timestep=0.4, num_inference_steps=10).options_dict()["provenance"]["guided_steps"] == 6


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"min_guidance_timestep": 0.9, "max_guidance_timestep": 0.5}, "min_guidance_timestep"),
        ({"lr_range": [0.007, -0.004]}, "lr_range"),
        ({"lr_range": [0.007]}, "lr_range"),
        ({"source_prompt": "a render of {subject}"}, "source_prompt"),
        ({"height": 300}, "height"),
        ({"inversion_steps": 0}, "inversion_steps"),
        ({"steps": 10}, "has no option 'steps'"),
        ({"dtype": "float8"}, "dtype"),
    ],
)
def test_bad_options_are_named(options, named):
    with pytest.raises(MethodError, match=named):
        DMT(**options)


def test_source_prompt_template():
    req = request()
    assert source_prompt("{people}", req) == "two people"
    assert source_prompt("{people}", dataclasses.replace(req, appearance_prompts=["x"])) == "a person"
    assert source_prompt("{people}", dataclasses.replace(req, appearance_prompts=[])) == "people"
    assert source_prompt("{people}", dataclasses.replace(req, appearance_prompts=["x"] * 7)) == "7 people"
    assert source_prompt("{appearance} | {prompt}", req) == (
        "a woman in a red dress; a man in a grey suit | a woman dances in a park"
    )


def test_missing_base_names_the_hub_id_and_download(tmp_path, monkeypatch):
    import huggingface_hub.constants

    with pytest.raises(MissingWeightsError, match=r"does not exist.*hf download cerspense/zeroscope_v2_576w"):
        DMT(model=str(tmp_path / "absent"), device="cpu").load()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingWeightsError) as info:
        DMT(device="cpu").load()
    message = str(info.value)
    assert "'hub:cerspense/zeroscope_v2_576w'" in message and "`hf download cerspense/zeroscope_v2_576w`" in message
    assert "CC BY-NC 4.0" in message


def test_default_model_loads_from_the_hub_cache(model_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants
    from diffusers import DDIMScheduler

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache(tmp_path / "hub", model_dir)))
    method = DMT(device="cpu", dtype="bfloat16")
    pipe = method.pipeline
    assert isinstance(pipe.scheduler, DDIMScheduler) and pipe.unet.dtype == torch.bfloat16
    assert not any(p.requires_grad for p in pipe.unet.parameters())


def test_evaluate_device_and_dtype_reach_the_method(model_dir):
    from amg_bench.evaluation.runner import build_method
    from amg_bench.methods.config import resolve_options

    options, path = resolve_options("dmt", method_args=[f"model={model_dir}"])
    assert path is not None and path.name == "dmt.yaml"
    method = build_method("dmt", DMT, options, "cpu", "bfloat16")  # the baseline file does not pin them
    assert (method.options.device, method.options.dtype) == ("cpu", "bfloat16")
    assert next(method.pipeline.unet.parameters()).dtype == torch.bfloat16


def test_registered_with_its_baseline():
    from amg_bench.methods.config import default_config_path
    from amg_bench.methods.registry import available_methods, resolve_method_class

    assert "dmt" in available_methods() and resolve_method_class("dmt") is DMT
    assert DMT.requires == {"prompt", "condition"} and DMT.uses_prompt
    path = default_config_path("dmt")
    assert path is not None and path.parent.parent.name == "amg_bench"
    assert path.read_text() == BASELINE.read_text()
