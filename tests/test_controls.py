"""The ``controls`` split end to end: built with ``--controls``, read by ``datasets.load_dataset``,
evaluated against its condition render, shown as its own leaderboard group."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
from click.testing import CliRunner
from datasets_for_tests import cell_frames
from scenes_for_tests import two_people_scene

from amg_bench.cli import main
from amg_bench.data.builder import BuildConfig, build_dataset
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.hub import load_benchmark

VARIANTS = ["orbit-60", "orbit-180", "orbit-360", "zoom-in", "zoom-out", "reverse"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    sources = write_demo_sources(tmp_path_factory.mktemp("sources"), seed=3, scenes=[two_people_scene("tiny")])
    out = tmp_path_factory.mktemp("built") / "ds"
    config = BuildConfig(train_size=20, resolution=64, controls=True, control_clips=2)
    report = build_dataset(sources, out, config, progress=False)
    return out, report


@pytest.fixture(scope="module")
def controls(built):
    return datasets.load_dataset(str(built[0]), split="controls")


@pytest.fixture(scope="module")
def test_rows(built):
    rows = datasets.load_dataset(str(built[0]), split="test")
    return {row["clip_id"]: row for row in rows}


def test_the_split_holds_every_variant_of_the_first_and_last_test_clip(built, controls, test_rows):
    out, report = built
    assert report.splits == {"train": 20, "test": 7, "controls": 12}
    first, last = sorted(test_rows)[0], sorted(test_rows)[-1]
    expected = [f"{clip}.{variant}" for clip in (first, last) for variant in VARIANTS]
    assert controls["clip_id"] == expected
    assert controls["control_of"] == [first] * 6 + [last] * 6
    assert controls["control"] == ["orbit:60", "orbit:180", "orbit:360", "zoom-in", "zoom-out", "reverse"] * 2
    assert all(v is None for v in controls["video"])  # no real video
    assert set(test_rows[first]) >= {"control", "control_of"} and test_rows[first]["control"] is None
    assert set(load_benchmark(out)) == {"train", "test", "controls"}
    card = (out / "README.md").read_text()
    assert "controls" in card


def test_rows_keep_their_clip_s_people_caption_and_palette(controls, test_rows):
    for row in controls:
        source = test_rows[row["control_of"]]
        for column in ("scene_caption", "appearance_colors", "person_ids", "appearance_captions", "fps", "num_frames"):
            assert row[column] == source[column], column
        assert [p["betas"] for p in row["smpl"]] == [p["betas"] for p in source["smpl"]]
        frames = cell_frames(row["avatar_video"])
        assert frames.shape == (16, 64, 64, 3)


def test_reverse_plays_the_motion_backwards_through_the_clip_s_own_cameras(controls, test_rows):
    row = next(r for r in controls if r["control"] == "reverse")
    source = test_rows[row["control_of"]]
    for mine, theirs in zip(row["smpl"], source["smpl"], strict=True):
        for key in ("global_orient", "body_pose", "transl"):
            np.testing.assert_allclose(mine[key], np.asarray(theirs[key])[::-1], atol=1e-6)
    np.testing.assert_allclose(row["camera"]["extrinsics"], source["camera"]["extrinsics"], atol=1e-6)


@pytest.mark.parametrize("variant, degrees", [("orbit:60", 60), ("orbit:180", 180), ("orbit:360", 0)])
def test_orbits_turn_the_camera_by_their_angle_and_keep_the_people_centred(controls, variant, degrees):
    for row in (r for r in controls if r["control"] == variant):
        extrinsics = np.asarray(row["camera"]["extrinsics"], dtype=np.float64)
        first, final = extrinsics[0, :3, :3], extrinsics[-1, :3, :3]
        # a rotation by angle a has trace 1 + 2 cos a
        assert np.trace(final.T @ first) == pytest.approx(1 + 2 * np.cos(np.radians(degrees)), abs=1e-3)
        frames = cell_frames(row["avatar_video"])
        for frame in frames:
            ys, xs = np.nonzero(frame.max(axis=-1) > 24)
            assert len(xs) > 50
            centre = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
            assert abs(centre[0] - 31.5) < 8 and abs(centre[1] - 31.5) < 8, (variant, centre)


def test_zooms_change_the_people_s_projected_height_monotonically(controls):
    for variant, sign in (("zoom-in", 1), ("zoom-out", -1)):
        row = next(r for r in controls if r["control"] == variant)
        heights = []
        for frame in cell_frames(row["avatar_video"]):
            ys = np.nonzero(frame.max(axis=-1) > 24)[0]
            heights.append(ys.max() - ys.min())
        assert sign * (heights[-1] - heights[0]) > 6, (variant, heights)


def _evaluate(dataset, out, cache, *extra):
    args = ["evaluate", "--dataset", str(dataset), "--split", "controls", "--out", str(out), "--cache-dir", str(cache),
            "--protocol", "offline", "--metrics", "motion", "--grid-size", "12", "--no-progress", *extra]  # fmt: skip
    return CliRunner().invoke(main, args)


def test_evaluate_scores_motion_against_the_condition(built, controls, tmp_path):
    out, _ = built
    result = _evaluate(out, tmp_path / "avatar", tmp_path / "cache", "--method", "avatar")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "avatar" / "results.json").read_text())
    assert results["protocol"]["reference"] == "condition"
    assert results["protocol"]["motion"]["reference"] == "condition"
    assert results["num_clips"] == 12 and not results["failures"]
    ceiling = results["metrics"]["motion_fidelity_chamfer"]["mean"]
    assert ceiling == pytest.approx(100.0)  # the condition against itself: every tracklet matches itself
    assert results["metrics"]["motion_fidelity_foreground_chamfer"]["mean"] == pytest.approx(100.0)

    # the wrong motion (each row's condition played backwards) scores lower against the condition
    videos = tmp_path / "backwards"
    videos.mkdir()
    from amg_bench.video import write_video

    for row in controls:
        write_video(videos / f"{row['clip_id']}.mp4", cell_frames(row["avatar_video"])[::-1].copy(), 8.0)
    result = _evaluate(out, tmp_path / "folder", tmp_path / "cache", "--method", f"folder:{videos}")
    assert result.exit_code == 0, result.output
    backwards = json.loads((tmp_path / "folder" / "results.json").read_text())["metrics"]["motion_fidelity_chamfer"]
    assert backwards["mean"] < ceiling - 10


def test_methods_that_need_the_real_clip_are_refused_before_any_work(built, tmp_path):
    for method in ("ground-truth", "frozen"):
        result = _evaluate(built[0], tmp_path / method, tmp_path / "cache", "--method", method)
        assert result.exit_code == 1, result.output
        assert "has no real video" in result.output and "empty in every row" in result.output
        assert not (tmp_path / method / "results.json").exists()


def test_pose_targets_are_the_condition_s_projected_joints(built, tmp_path):
    from person_models_for_tests import save_tiny_vitpose

    from amg_bench.evaluation.protocols import protocol_scoring
    from amg_bench.evaluation.runner import EvaluationConfig, evaluate

    pose = save_tiny_vitpose(tmp_path / "vitpose")
    scoring = protocol_scoring("offline", metrics=("pose",), pose_model=pose, pose_threshold=0.05)
    summary = evaluate(EvaluationConfig(method="avatar", dataset=str(built[0]), split="controls", out=tmp_path / "run",
                                        cache_dir=tmp_path / "cache", protocol="offline", scoring=scoring,
                                        progress=False))  # fmt: skip
    results = summary.results
    assert "projected" in results.protocol.pose["targets"]
    assert {"pose_pck", "pose_akd"} <= set(results.metrics)
    # at most the 12 shared limb joints of each of the two people in each of the 16 frames
    assert 0 < results.diagnostics["pose_targets"].mean <= 12 * 2 * 16


def test_the_leaderboard_shows_controls_as_their_own_group(built, tmp_path):
    from amg_bench.leaderboard import build_leaderboard

    out, _ = built
    runs = []
    for split in ("test", "controls"):
        args = ["evaluate", "--dataset", str(out), "--split", split, "--out", str(tmp_path / split), "--cache-dir",
                str(tmp_path / "cache"), "--protocol", "offline", "--metrics", "motion", "--grid-size", "12",
                "--no-progress", "--method", "avatar"]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        runs.append(tmp_path / split)
    board = build_leaderboard(list(reversed(runs)), tmp_path / "board", reported=None, max_clips=0)
    text = (board / "leaderboard.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith("## P")]
    assert len(headings) == 2 and text.count("controls split: test motions under camera paths") == 1
    # the group scored against the real clip comes first, though its results were given last
    assert "controls split" not in headings[0] and "controls split" in headings[1], headings
