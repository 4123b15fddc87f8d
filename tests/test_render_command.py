"""``amg-bench render``: a known motion under a camera path, the sidecar, looks from a dataset, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner
from datasets_for_tests import write_tiny_dataset
from scipy.spatial.transform import Rotation

from amg_bench.cli import main
from amg_bench.condition import default_intrinsics, render_condition
from amg_bench.data.appearance import NUM_PARTS
from amg_bench.data.densepose import BACKGROUND
from amg_bench.data.motion import load_motion
from amg_bench.data.render import PERSON_COLORS
from amg_bench.errors import DatasetError, MotionError, OutputExistsError
from amg_bench.video import probe, read_video

SIZE = 64


def walk_file(path, frames=240, fps=120.0):
    """A person walking along world x in the AMASS layout (z-up world, like AMASS), legs swinging."""
    t = np.arange(frames) / fps
    upright = Rotation.from_euler("x", 90, degrees=True)  # the body's +y (up) becomes world +z
    poses = np.zeros((frames, 156))
    poses[:, :3] = upright.as_rotvec()
    swing = 0.5 * np.sin(2 * np.pi * t)
    poses[:, 3] = swing  # left hip (body joint 1) about x
    poses[:, 6] = -swing  # right hip
    trans = np.stack([0.6 * t, np.zeros(frames), np.full(frames, 0.9)], axis=1)
    np.savez(path, poses=poses, trans=trans, betas=np.full(16, 2.0), mocap_framerate=np.array(fps))
    return poses, trans


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("render")
    poses, trans = walk_file(folder / "walk.npz")
    args = ["render", "--motion", str(folder / "walk.npz"), "--camera", "orbit:180", "--frames", "16", "--fps", "8",
            "--size", str(SIZE), "--out", str(folder / "cond.mp4"), "--pose-out", str(folder / "pose.mp4")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return folder, poses, trans, result.output


def test_orbit_180_of_a_known_motion(rendered):
    folder, poses, trans, output = rendered
    assert "16 frames, 1 person(s), camera orbit:180, flat colours" in output
    info = probe(folder / "cond.mp4")
    assert (info.num_frames, info.height, info.width, info.fps) == (16, SIZE, SIZE, 8.0)
    side = load_motion(folder / "cond.npz")  # the sidecar is a motion file of the package's format
    # 120 fps resampled to 8 fps: output frame k is source frame 15 k, exactly
    np.testing.assert_array_equal(side.global_orient[0], poses[15 * np.arange(16), :3].astype(np.float32))
    np.testing.assert_array_equal(side.transl[0], trans[15 * np.arange(16)].astype(np.float32))
    assert not side.betas.any()  # SMPL-H betas are not the mannequin's
    extrinsics = side.extrinsics.astype(np.float64)
    up = np.array([0.0, 0.0, 1.0])  # read off the upright body: AMASS is z-up

    def heading(e):
        forward = e[2, :3] - (e[2, :3] @ up) * up
        return math.atan2(forward[1], forward[0])

    turn = (heading(extrinsics[-1]) - heading(extrinsics[0])) % (2 * math.pi)
    assert turn == pytest.approx(math.pi, abs=1e-5)  # the final yaw differs by 180 degrees
    np.testing.assert_allclose(side.intrinsics, default_intrinsics(SIZE), rtol=1e-6)
    frames = read_video(folder / "cond.mp4").astype(int)
    for frame in frames:  # the person stays centred: the centroid of the drawn pixels is near the middle
        rows, cols = np.nonzero(frame.max(axis=-1) > 40)
        assert len(rows) > 30
        assert abs(cols.mean() - (SIZE - 1) / 2) < 4 and abs(rows.mean() - (SIZE - 1) / 2) < 6
    colours = frames[frames.max(axis=-1) > 40]
    hue = colours / np.maximum(colours.sum(axis=-1, keepdims=True), 1)
    flat = PERSON_COLORS[0] / PERSON_COLORS[0].sum()
    assert np.abs(np.median(hue, axis=0) - flat).max() < 0.05  # the flat look of person 0
    pose = read_video(folder / "pose.mp4").astype(int)
    assert (np.abs(pose - BACKGROUND).max(axis=-1) < 12).mean() > 0.5  # DensePose's background


def test_the_sidecar_is_a_motion_and_a_camera_file(rendered, tmp_path):
    folder, *_ = rendered
    report = render_condition([folder / "cond.npz"], tmp_path / "again.mp4", camera=str(folder / "cond.npz"),
                              frames=16, fps=8, size=SIZE)  # fmt: skip
    assert report.camera == str(folder / "cond.npz")
    again, first = read_video(tmp_path / "again.mp4").astype(int), read_video(folder / "cond.mp4").astype(int)
    assert np.abs(again - first).mean() < 0.5  # the same bodies through the same cameras
    with np.load(folder / "cond.npz") as side:
        assert str(side["camera_path"]) == "orbit:180" and side["motion_files"][0].endswith("walk.npz")
        assert side["appearance_colors"].shape == (1, NUM_PARTS, 3)


def test_looks_come_from_a_dataset_clip(rendered, tmp_path):
    folder, *_ = rendered
    palettes = np.zeros((2, NUM_PARTS, 3), np.uint8)
    palettes[1] = (20, 200, 40)  # clip 1's person is green all over
    dataset = write_tiny_dataset(tmp_path / "ds", num_clips=2, size=32, palettes=palettes)
    clip = "src1_000007"
    report = render_condition([folder / "walk.npz"], tmp_path / "green.mp4", frames=16, fps=8, size=SIZE,
                              appearance_from=f"{dataset}:{clip}")  # fmt: skip
    assert report.appearance_from == f"{dataset}:{clip}"
    with np.load(tmp_path / "green.npz") as side:
        np.testing.assert_array_equal(side["appearance_colors"], palettes[1:2])
        assert str(side["appearance_from"]) == f"{dataset}:{clip}"
    frames = read_video(tmp_path / "green.mp4").astype(int)
    drawn = frames[frames.max(axis=-1) > 40]
    assert (drawn[:, 1] > drawn[:, 0] + 40).mean() > 0.9  # lit green, not the flat orange
    with pytest.raises(DatasetError, match="has no clip 'nope' in any split"):
        render_condition([folder / "walk.npz"], tmp_path / "x.mp4", size=SIZE, appearance_from=f"{dataset}:nope")
    old = write_tiny_dataset(tmp_path / "old", num_clips=1, size=32)
    with pytest.raises(DatasetError, match="invalid|appearance_colors"):  # built without looks: no palette
        render_condition([folder / "walk.npz"], tmp_path / "x.mp4", size=SIZE, appearance_from=f"{old}:src0_000000")
    with pytest.raises(DatasetError, match="DATASET:CLIP_ID"):
        render_condition([folder / "walk.npz"], tmp_path / "x.mp4", size=SIZE, appearance_from="no-colon")


def test_bad_render_input_is_named(rendered, tmp_path):
    folder, *_ = rendered
    walk = folder / "walk.npz"  # 2 s of motion
    with pytest.raises(MotionError, match="need 2.375 s"):
        render_condition([walk], tmp_path / "x.mp4", frames=20, fps=8, size=SIZE)
    with pytest.raises(MotionError, match="not a camera path"):
        render_condition([walk], tmp_path / "x.mp4", camera="spin", size=SIZE)
    with pytest.raises(MotionError, match="even number"):
        render_condition([walk], tmp_path / "x.mp4", size=33)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        render_condition([walk], folder / "cond.mp4", size=SIZE)
    result = CliRunner().invoke(
        main, ["render", "--motion", str(tmp_path / "none.npz"), "--out", str(tmp_path / "o.mp4")]
    )
    assert result.exit_code == 1 and "error: motion file" in result.output and "does not exist" in result.output
