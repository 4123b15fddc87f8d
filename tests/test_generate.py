"""``amg-bench generate``: one video from files, with the reference methods, AMG's tiny components, any method."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from datasets_for_tests import moving_texture, write_tiny_dataset

from amg_bench.cli import main
from amg_bench.errors import MethodError, OutputExistsError
from amg_bench.generate import INPUT_OPTIONS, GenerateConfig, generate_video
from amg_bench.methods.base import REQUEST_INPUTS
from amg_bench.video import encode_mp4, probe, read_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    condition = moving_texture(7, 16, 64)
    (folder / "cond.mp4").write_bytes(encode_mp4(condition, 8.0))
    (folder / "real.mp4").write_bytes(encode_mp4(moving_texture(8, 16, 64), 8.0))
    image = np.zeros((40, 30, 3), np.uint8)
    image[:, :15] = (200, 30, 10)  # left half red (RGB)
    cv2.imwrite(str(folder / "ref.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder


def test_every_request_input_has_an_option():
    assert set(INPUT_OPTIONS) == set(REQUEST_INPUTS)


def test_reference_methods_write_16_frame_videos(files, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["generate", "--method", "avatar", "--condition", str(files / "cond.mp4"),
                                  "--out", str(tmp_path / "avatar.mp4")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "published unchanged" in result.output
    assert (tmp_path / "avatar.mp4").read_bytes() == (files / "cond.mp4").read_bytes()  # the condition's own bytes
    result = runner.invoke(main, ["generate", "--method", "ground-truth", "--video", str(files / "real.mp4"),
                                  "--out", str(tmp_path / "gt.mp4")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "gt.mp4").read_bytes() == (files / "real.mp4").read_bytes()
    report = generate_video(
        GenerateConfig(method="frozen", reference_frame=files / "ref.png", height=40, width=30, out=tmp_path / "f.mp4")
    )
    frozen = read_video(tmp_path / "f.mp4")
    assert frozen.shape == (16, 40, 30, 3) and report.num_frames == 16 and not report.published
    assert np.abs(frozen.astype(int) - frozen[:1]).max() <= 2  # the image held for every frame
    assert frozen[0, 20, 5, 0] > 150 and frozen[0, 20, 25, 0] < 60  # in RGB order: red on the left
    assert probe(tmp_path / "f.mp4").fps == 8.0


def test_amg_tiny_components_generate_the_request(files, tmp_path):
    from modelscope_for_tests import randomize_trainable, save_base_folder, tiny_base_components

    from amg_bench.methods.amg import AMG
    from amg_bench.methods.amg.pipeline import AMGPipeline
    from amg_bench.methods.base import GenerationRequest

    save_base_folder(tiny_base_components(seed=2), tmp_path / "base")
    pipe = AMGPipeline.from_base(tmp_path / "base")
    randomize_trainable(pipe.unet, seed=0, scale=0.3)
    pipe.save_pretrained(tmp_path / "amg")
    args = ["generate", "--method", "amg", "--prompt", "two people dance on a beach at sunset",
            "--condition", str(files / "cond.mp4"), "--seed", "3", "--device", "cpu", "--out", str(tmp_path / "a.mp4"),
            "--method-arg", f"model={tmp_path / 'amg'}", "--method-arg", "num_inference_steps=2",
            "--method-arg", "height=16", "--method-arg", "width=16"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    video = read_video(tmp_path / "a.mp4")
    assert video.shape == (16, 64, 64, 3)  # the condition's frames and size
    method = AMG(model=str(tmp_path / "amg"), num_inference_steps=2, height=16, width=16, device="cpu")
    request = GenerationRequest(clip_id="a", prompt="two people dance on a beach at sunset",
                                condition=read_video(files / "cond.mp4"), num_frames=16, height=64, width=64, seed=3)  # fmt: skip
    stored = read_video(encode_mp4(method.generate(request), 8.0, crf=0))  # stored as a run stores videos
    assert np.abs(video.astype(int) - stored).mean() < 0.5
    other = read_video(encode_mp4(method.generate(GenerationRequest(**{**request.__dict__, "seed": 4})), 8.0, crf=0))
    assert np.abs(video.astype(int) - other).mean() > 2.0


def test_a_missing_input_is_named_before_any_weight_loads(files, tmp_path):
    result = CliRunner().invoke(
        main, ["generate", "--method", "amg", "--prompt", "x", "--out", str(tmp_path / "a.mp4")]
    )
    assert result.exit_code == 1
    assert "error: method 'amg' needs --condition (the avatar condition render)" in result.output
    with pytest.raises(MethodError, match=r"needs --pose \(.*\); --reference-frame"):
        generate_video(GenerateConfig(method="magicanimate", out=tmp_path / "m.mp4"))
    with pytest.raises(MethodError, match="needs at least two clips"):  # shuffled exchanges clips of a split
        generate_video(GenerateConfig(method="shuffled", video=files / "real.mp4", out=tmp_path / "s.mp4"))
    (tmp_path / "exists.mp4").write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        generate_video(GenerateConfig(method="avatar", condition=files / "cond.mp4", out=tmp_path / "exists.mp4"))


def test_generate_builds_the_request_the_benchmark_builds(tmp_path, monkeypatch):
    from amg_bench.data.hub import video_cell_bytes
    from amg_bench.evaluation.dataset import clip_seed, open_split
    from amg_bench.evaluation.protocols import protocol_scoring
    from amg_bench.evaluation.runner import EvaluationConfig, evaluate

    monkeypatch.setenv("AMG_BENCH_CACHE", str(tmp_path / "cache"))
    dataset = write_tiny_dataset(tmp_path / "ds", num_clips=1, size=32)
    clip = open_split(dataset).clip_ids[0]
    evaluate(EvaluationConfig(method="control_for_tests:RecordRequest", dataset=str(dataset), out=tmp_path / "run",
                              method_options={"record": str(tmp_path / "runner")}, protocol="offline",
                              scoring=protocol_scoring("offline", metrics=("motion",), grid_size=4, foreground=False),
                              progress=False, seed=5))  # fmt: skip
    row = open_split(dataset).row(clip)
    (tmp_path / "cond.mp4").write_bytes(video_cell_bytes(row["avatar_video"], clip))
    generate_video(
        GenerateConfig(method="control_for_tests:RecordRequest", out=tmp_path / f"{clip}.mp4", prompt=row["scene_caption"],
                       appearance_prompts=row["appearance_captions"], condition=tmp_path / "cond.mp4",
                       seed=clip_seed(5, clip), method_options={"record": str(tmp_path / "one-off")})
    )  # fmt: skip
    ours, theirs = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one-off", "runner"))
    assert ours == theirs and theirs["encoded"] == ["condition"] and theirs["seed"] == clip_seed(5, clip)
    with np.load(tmp_path / "one-off.npz") as a, np.load(tmp_path / "runner.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
