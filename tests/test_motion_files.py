"""Motion inputs of new renders: the AMASS layout, the package format, resampling, reversal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from amg_bench.data.motion import Motion, save_motion
from amg_bench.data.motion_files import (
    concatenate,
    load_motion_clip,
    read_amass,
    read_motion_file,
    resample,
    source_positions,
)
from amg_bench.errors import MotionError


def amass_file(path, frames=240, fps=120.0, width=156, rate_key="mocap_framerate", betas=None):
    """An AMASS-layout file whose every value says which frame it is (frame f: f / 1000 rad, f mm)."""
    f = np.arange(frames, dtype=np.float64)[:, None]
    poses = np.tile(f / 1000.0, (1, width)) + np.arange(width) * 1e-6
    trans = np.concatenate([f / 1000.0, -f / 1000.0, f / 500.0], axis=1)
    np.savez(
        path,
        poses=poses,
        trans=trans,
        betas=np.arange(16, dtype=np.float64) * 0.1 if betas is None else betas,
        gender=np.array("neutral"),
        **{rate_key: np.array(fps)},
    )
    return poses, trans


def test_120_fps_amass_resamples_to_8_fps_frame_exactly(tmp_path):
    poses, trans = amass_file(tmp_path / "walk.npz")
    clip = load_motion_clip([tmp_path / "walk.npz"], "mannequin", 10, fps=8.0, num_frames=16)
    source = 15 * np.arange(16)  # 120 / 8: output frame k is source frame 15 k, untouched
    np.testing.assert_array_equal(clip.global_orient[0], poses[source, :3])
    np.testing.assert_array_equal(clip.body_pose[0, :, :63], poses[source, 3:66])
    np.testing.assert_array_equal(clip.transl[0], trans[source])
    assert clip.visible.all() and clip.fps == 8.0 and clip.person_ids == ["walk"]
    assert source_positions(16, 8.0, 120.0).tolist() == source.tolist()


def test_amass_layouts_map_onto_smpl_joints(tmp_path):
    poses, _ = amass_file(tmp_path / "smplh.npz", frames=4, fps=30.0, width=156)
    smplh = read_amass(tmp_path / "smplh.npz", "mannequin", 10)
    np.testing.assert_array_equal(smplh.body_pose[0, :, :63], poses[:, 3:66])
    assert not smplh.body_pose[0, :, 63:].any()  # SMPL's hand joints: SMPL-H's hands are not SMPL's
    assert not smplh.betas.any()  # SMPL-H betas mean something else to the mannequin
    poses, _ = amass_file(tmp_path / "smpl.npz", frames=4, width=72, rate_key="mocap_frame_rate")
    smpl = read_amass(tmp_path / "smpl.npz", "smpl", 10)
    np.testing.assert_array_equal(smpl.body_pose[0], poses[:, 3:72])
    np.testing.assert_allclose(smpl.betas[0], np.arange(10) * 0.1)  # a real SMPL model keeps them
    amass_file(tmp_path / "smplx.npz", frames=4, width=165)
    np.testing.assert_array_equal(read_amass(tmp_path / "smplx.npz", "smplx", 10).body_pose[0, :, 63:], 0.0)


def test_between_frames_rotations_are_slerped_and_translations_interpolated(tmp_path):
    frames = 4
    angles = np.array([0.0, 0.6, 1.2, 1.8])  # a root turning about z, 30 fps
    poses = np.zeros((frames, 72))
    poses[:, 2] = angles
    trans = np.stack([np.arange(frames) * 0.3, np.zeros(frames), np.zeros(frames)], axis=1)
    np.savez(tmp_path / "turn.npz", poses=poses, trans=trans, mocap_framerate=np.array(30.0))
    clip = load_motion_clip([tmp_path / "turn.npz"], "mannequin", 10, fps=20.0, num_frames=3)
    # 20 fps samples source positions 0, 1.5, 3: frame 1 lies halfway between source frames 1 and 2
    np.testing.assert_allclose(Rotation.from_rotvec(clip.global_orient[0]).as_euler("xyz")[:, 2], [0.0, 0.9, 1.8])
    np.testing.assert_allclose(clip.transl[0, :, 0], [0.0, 0.45, 0.9])
    with pytest.raises(MotionError, match=r"holds 4 frames at 30 fps \(0\.100 s\); 4 frames at 20 fps from 0 s need"):
        load_motion_clip([tmp_path / "turn.npz"], "mannequin", 10, fps=20.0, num_frames=4)


def test_package_motion_keeps_validity_camera_and_body_model(tmp_path):
    rng = np.random.default_rng(0)
    frames = 48
    valid = np.ones((2, frames), dtype=bool)
    valid[1, 9] = False
    extrinsics = np.repeat(np.eye(4)[None], frames, 0)
    extrinsics[:, 2, 3] = np.arange(frames)
    motion = Motion(
        global_orient=rng.normal(0, 0.3, (2, frames, 3)),
        body_pose=rng.normal(0, 0.3, (2, frames, 69)),
        betas=rng.normal(0, 1, (2, 10)),
        transl=rng.normal(0, 1, (2, frames, 3)),
        valid=valid,
        intrinsics=np.eye(3) * 100 + [[0, 0, 50], [0, 0, 50], [0, 0, -99]],
        extrinsics=extrinsics,
        image_size=(100, 100),
        person_ids=["a", "b"],
    )
    save_motion(tmp_path / "two.npz", motion)
    clip = load_motion_clip([tmp_path / "two.npz"], "mannequin", 10, fps=8.0, num_frames=16)
    sampled = 3 * np.arange(16)  # 24 fps -> 8 fps
    np.testing.assert_array_equal(clip.transl, motion.transl[:, sampled])
    np.testing.assert_array_equal(clip.visible[1], valid[1, sampled])  # frame 9 is output frame 3
    assert not clip.visible[1, 3] and clip.visible[0].all()
    np.testing.assert_array_equal(clip.camera_extrinsics[:, 2, 3], sampled)
    np.testing.assert_allclose(clip.betas, motion.betas, rtol=1e-6)
    with pytest.raises(MotionError, match="made for the 'mannequin' body model"):
        read_motion_file(tmp_path / "two.npz", "smpl", 10)


def test_up_and_facing_come_from_the_bodies_without_a_camera(tmp_path):
    frames = 20
    poses = np.zeros((frames, 72))
    poses[:, :3] = (Rotation.from_euler("x", 90, degrees=True) * Rotation.from_euler("y", 90, degrees=True)).as_rotvec()
    np.savez(tmp_path / "zup.npz", poses=poses, trans=np.zeros((frames, 3)), mocap_framerate=np.array(8.0))
    clip = load_motion_clip([tmp_path / "zup.npz"], "mannequin", 10, fps=8.0, num_frames=frames)
    up, toward = clip.up_and_toward(np.zeros(3))
    # the body's rest up (+y) becomes world +z (AMASS is z-up); it faces where its +z turns: world +x
    np.testing.assert_allclose(up, [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(toward, [1.0, 0.0, 0.0], atol=1e-12)


def test_reversal_and_concatenation():
    clip = resample(
        read_like(np.arange(5, dtype=float)), fps=10.0, num_frames=5
    )  # identity resampling at the same rate
    back = clip.reversed()
    np.testing.assert_array_equal(back.transl[0, :, 0], [4.0, 3.0, 2.0, 1.0, 0.0])
    both = concatenate([clip, back])
    assert both.num_people == 2 and both.person_ids == ["p", "p_2"]
    with pytest.raises(MotionError, match="same frames and rate"):
        concatenate([clip, resample(clip, fps=5.0, num_frames=2)])


def read_like(x):
    from amg_bench.data.motion_files import MotionClip

    frames = len(x)
    return MotionClip(
        global_orient=np.zeros((1, frames, 3)),
        body_pose=np.zeros((1, frames, 69)),
        betas=np.zeros((1, 10)),
        transl=np.stack([x, np.zeros(frames), np.zeros(frames)], axis=1)[None],
        visible=np.ones((1, frames), bool),
        fps=10.0,
        person_ids=["p"],
    )


def test_bad_motion_files_are_named(tmp_path):
    with pytest.raises(MotionError, match="does not exist"):
        read_motion_file(tmp_path / "none.npz", "mannequin", 10)
    np.savez(tmp_path / "wide.npz", poses=np.zeros((3, 99)), trans=np.zeros((3, 3)), mocap_framerate=np.array(30.0))
    with pytest.raises(MotionError, match=r"'poses' must be \(frames, 72 \(SMPL\), 156 \(SMPL-H\), 165"):
        read_motion_file(tmp_path / "wide.npz", "mannequin", 10)
    np.savez(tmp_path / "norate.npz", poses=np.zeros((3, 72)), trans=np.zeros((3, 3)))
    with pytest.raises(MotionError, match="needs 'mocap_framerate'"):
        read_motion_file(tmp_path / "norate.npz", "mannequin", 10)
    np.savez(tmp_path / "short.npz", poses=np.zeros((3, 72)), trans=np.zeros((2, 3)), mocap_framerate=np.array(3.0))
    with pytest.raises(MotionError, match=r"'trans' must be \(3, 3\)"):
        read_motion_file(tmp_path / "short.npz", "mannequin", 10)
