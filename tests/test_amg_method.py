"""The ``amg`` method behind ``generate()``, loading a pipeline folder written by the real code."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from modelscope_for_tests import randomize_trainable, save_base_folder, tiny_base_components

from amg_bench.errors import MethodError, MissingWeightsError
from amg_bench.methods.amg import AMG, AMGOptions
from amg_bench.methods.amg.pipeline import AMGPipeline
from amg_bench.methods.base import GenerationRequest, check_output

BASELINE = Path(__file__).resolve().parents[1] / "baselines" / "amg.yaml"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("amg_method")
    save_base_folder(tiny_base_components(seed=2), root / "base")
    pipe = AMGPipeline.from_base(root / "base")
    randomize_trainable(pipe.unet, seed=0, scale=0.3)
    pipe.save_pretrained(root / "amg")
    return root / "amg"


def request(seed=0, height=16, width=16, frames=16, clip_seed=0):
    condition = np.random.default_rng(clip_seed).integers(0, 256, (frames, 24, 32, 3), dtype=np.uint8)
    return GenerationRequest(
        clip_id=f"clip{clip_seed}",
        prompt="a woman dances in a park",
        condition=condition,
        num_frames=frames,
        height=height,
        width=width,
        seed=seed,
    )


@pytest.fixture(scope="module")
def method(model_dir):
    return AMG(model=str(model_dir), num_inference_steps=3, guidance_scale=2.0, height=16, width=16)


def test_generate_returns_uint8_video_deterministic_per_seed(method):
    first = method.generate(request(seed=4))
    check_output(first, request(seed=4), "amg")
    assert first.dtype == np.uint8 and first.shape == (16, 16, 16, 3)
    np.testing.assert_array_equal(first, method.generate(request(seed=4)))
    assert np.abs(first.astype(int) - method.generate(request(seed=5))).max() > 0


def test_output_resized_to_the_request(method):
    video = method.generate(request(height=24, width=20))
    assert video.shape == (16, 24, 20, 3) and video.dtype == np.uint8


def test_generate_matches_the_pipeline(method):
    req = request(seed=9)
    direct = method.pipeline(
        req.prompt,
        req.condition,
        num_inference_steps=3,
        guidance_scale=2.0,  # not the pipeline default: the method must pass its option
        generator=torch.Generator().manual_seed(9),
        height=16,
        width=16,
    ).frames[0]
    expected = (np.clip(direct, 0, 1) * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(method.generate(req), expected)


def test_request_checks(method):
    with pytest.raises(MethodError, match="condition"):
        method.generate(GenerationRequest(clip_id="c", prompt="p"))
    short = request(frames=8)
    short.num_frames = 16
    with pytest.raises(MethodError, match="8 frames"):
        method.generate(short)


def test_options_file_holds_the_defaults():
    from amg_bench.methods.config import build_options, load_config

    assert build_options(AMGOptions, load_config(BASELINE), "amg") == AMGOptions()
    defaults = dataclasses.asdict(AMGOptions())
    assert (defaults["num_inference_steps"], defaults["guidance_scale"], defaults["height"]) == (20, 3.0, 256)
    assert AMG().options_dict() == defaults
    with pytest.raises(MethodError, match="has no option 'steps'"):
        AMG(steps=10)
    with pytest.raises(MethodError, match="dtype"):
        AMG(dtype="float8")


def test_baselines_ship_inside_the_package():
    from amg_bench.methods.config import default_config_path

    path = default_config_path("amg")
    assert path is not None and path.parent.parent.name == "amg_bench"
    assert path.read_text() == BASELINE.read_text()


def test_device_and_dtype_reach_the_method(model_dir, tmp_path):
    from amg_bench.evaluation.runner import build_method

    method = build_method("amg", AMG, {"model": str(model_dir)}, "cpu", "bfloat16")
    assert (method.options.device, method.options.dtype) == ("cpu", "bfloat16")
    assert method.pipeline.unet.dtype == torch.bfloat16  # loaded before any clip, in that dtype
    kept = build_method("amg", AMG, {"model": str(model_dir), "dtype": "float32"}, None, "bfloat16")
    assert kept.options.dtype == "float32" and kept.options.device == "auto"  # explicit options win


def test_the_pipeline_moves_to_the_device_option(model_dir):
    method = AMG(model=str(model_dir), device="meta", dtype="float32")  # a device torch has on every machine
    assert {p.device.type for p in method.pipeline.unet.parameters()} == {"meta"}


def test_a_local_model_is_never_fetched_from_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "weights/amg" does not exist here, and it parses as a Hub repo id
    with pytest.raises(MissingWeightsError, match=r"folder weights/amg does not exist \(write hub:weights/amg"):
        AMG(model="weights/amg").load()


def test_missing_model_names_the_converter(tmp_path):
    with pytest.raises(MissingWeightsError, match="amg-bench convert amg"):
        AMG(model=str(tmp_path / "absent")).load()
    with pytest.raises(MissingWeightsError, match="amg-bench convert amg"):
        AMG(model="weights/amg").load()
