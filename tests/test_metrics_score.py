"""``amg-bench score``: both metrics on two video files, text and JSON output."""

import json

import numpy as np
import open_clip
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from amg_bench.cli import main
from amg_bench.metrics.clip_score import CLIPScorer
from amg_bench.metrics.motion_fidelity import MotionFidelity
from amg_bench.video import read_video, write_video

TINY = "amg-bench-test-score-clip"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("score")
    config = folder / f"{TINY}.json"
    config.write_text(
        json.dumps(
            {
                "embed_dim": 16,
                "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
                "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
            }
        )
    )
    open_clip.add_model_config(config)
    torch.manual_seed(1)
    weights = folder / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in open_clip.create_model(TINY).state_dict().items()}, str(weights))

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)  # 96x96 blocks

    def video(dx, dy):
        return np.stack([np.roll(texture, (dy * t, dx * t), axis=(0, 1))[16:80, 16:80] for t in range(6)])

    reference, generated = folder / "real.mp4", folder / "gen.mp4"
    write_video(reference, video(2, 1), fps=8)
    write_video(generated, video(-1, 2), fps=8)
    return reference, generated, weights


def run(args):
    return CliRunner().invoke(main, ["score", *map(str, args)], catch_exceptions=False)


def test_score_command_text_and_json(setup):
    reference, generated, weights = setup
    common = ["--reference", reference, "--generated", generated, "--prompt", "a textured wall sliding",
              "--clip-model", TINY, "--clip-pretrained", weights, "--protocol", "offline", "--grid-size", 8,
              "--eval-size", "64x64"]  # fmt: skip
    text = run(common)
    assert text.exit_code == 0, text.output
    assert "clip score: " in text.output and "caption truncated to 77 tokens: no" in text.output
    assert "tracker klt - offline approximation" in text.output and "8x8 grid at 64x64" in text.output
    assert "  chamfer: " in text.output and "  dmt: " in text.output and "dropped as lost" in text.output

    result = run([*common, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    gen, ref = read_video(generated), read_video(reference)
    expected_motion = MotionFidelity("klt", grid_size=8, eval_size=(64, 64)).score(gen, ref)
    assert report["values"]["motion_fidelity_chamfer"] == pytest.approx(expected_motion.scores["chamfer"])
    assert report["values"]["motion_fidelity_dmt"] == pytest.approx(expected_motion.scores["dmt"])
    assert report["values"]["motion_points_dropped"] == expected_motion.dropped
    expected_clip = CLIPScorer(TINY, str(weights)).score(gen, "a textured wall sliding")
    assert report["values"]["clip_score"] == pytest.approx(expected_clip.score, abs=1e-5)
    assert report["protocol"]["motion"]["tracker"] == "klt" and report["protocol"]["motion"]["eval_size"] == [64, 64]
    assert report["protocol"]["clip"]["model"] == TINY and report["protocol"]["clip"]["activation"] == "gelu"

    only_dmt = json.loads(run([*common, "--motion-variant", "dmt", "--json"]).output)
    assert "motion_fidelity_chamfer" not in only_dmt["values"]
    assert only_dmt["values"]["motion_fidelity_dmt"] == pytest.approx(expected_motion.scores["dmt"])


def test_motion_alone_needs_no_clip_weights_and_no_prompt(setup):
    reference, generated, _ = setup
    result = run(["--reference", reference, "--generated", generated, "--metrics", "motion", "--protocol", "offline",
                  "--grid-size", 8, "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert "clip_score" not in report["values"] and report["protocol"]["clip"] is None
    assert "motion_fidelity_chamfer" in report["values"]


def test_score_command_errors(setup, tmp_path):
    reference, generated, weights = setup
    missing = run(["--reference", tmp_path / "nope.mp4", "--generated", generated, "--prompt", "x", "--clip-model",
                   TINY, "--clip-pretrained", weights, "--protocol", "offline"])  # fmt: skip
    assert missing.exit_code == 1 and "nope.mp4 does not exist" in missing.output
    bad_size = run(["--reference", reference, "--generated", generated, "--prompt", "x", "--eval-size", "big"])
    assert bad_size.exit_code == 2 and "HEIGHTxWIDTH" in bad_size.output
    huge = run(["--reference", reference, "--generated", generated, "--eval-size", "100000x100000"])
    assert huge.exit_code == 2 and "between 1 and 4096" in huge.output
    mixed = run(["--reference", reference, "--generated", generated, "--metrics", "motion", "--tracker", "klt",
                 "--cotracker-model", "cotracker_w8"])  # fmt: skip
    assert mixed.exit_code == 1 and "need the cotracker tracker, not 'klt'" in mixed.output
    no_prompt = run(["--reference", reference, "--generated", generated, "--protocol", "offline", "--clip-model", TINY,
                     "--clip-pretrained", weights])  # fmt: skip
    assert no_prompt.exit_code == 1 and "pass --prompt" in no_prompt.output
