"""TRACE results -> motion: layout, tracks, masks, placement, conventions and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.transform import Rotation
from trace_for_tests import motion_to_trace, save_trace, trace_rows

from amg_bench.cli import main
from amg_bench.data.body_model import load_body_model
from amg_bench.data.motion import Motion, load_motion
from amg_bench.data.render import Camera, render_people
from amg_bench.data.sources.trace import import_trace, read_trace_results, trace_to_motion
from amg_bench.data.windows import WindowSpec
from amg_bench.errors import MotionError
from amg_bench.video import write_video

SIZE = (48, 64)  # height, width of the test videos
FRAMES = 80


@pytest.fixture(scope="module")
def body():
    return load_body_model("mannequin")


def stature_only(betas: np.ndarray) -> np.ndarray:
    """Mannequin betas with only beta 0 (stature) kept: the one shape the import reads off TRACE's joints."""
    betas = np.array(betas, dtype=np.float64)
    betas[..., 1:] = 0.0
    return betas


def ground_truth(seed=0, frames=FRAMES, depths=(5.0, 6.0, 5.5)):
    """Three people in front of a static camera whose frame is the world (identity extrinsics)."""
    rng = np.random.default_rng(seed)
    p = len(depths)
    upright = Rotation.from_euler("x", 180, degrees=True)  # SMPL's y-up body in OpenCV's y-down camera
    yaw = Rotation.from_euler("y", rng.uniform(-1, 1, (p * frames, 1)))
    orient = (upright * yaw).as_rotvec().reshape(p, frames, 3)
    transl = np.stack(
        [
            np.stack([np.linspace(-0.6, 0.6, frames) * (i - 1), np.full(frames, 0.1), np.full(frames, depth)], axis=1)
            for i, depth in enumerate(depths)
        ]
    )
    valid = np.zeros((p, frames), dtype=bool)
    valid[0, :] = True
    valid[1, 5:71] = True
    valid[2, 10:15] = True  # a short, spurious track
    return Motion(
        global_orient=orient,
        body_pose=rng.normal(0, 0.15, (p, frames, 69)),
        betas=stature_only(rng.normal(0, 0.5, (p, 10))),  # TRACE's body is the mannequin here
        transl=transl,
        valid=valid,
        intrinsics=np.array([[68.5, 0, 32], [0, 68.5, 24], [0, 0, 1]]),
        extrinsics=np.repeat(np.eye(4)[None], frames, 0),
        image_size=SIZE,
    )


def track_of(person, frame):
    """person0: track 1 with a gap at 20-22; person1: track 2, lost at 40-43, back as track 7; person2: track 9."""
    if person == 0:
        return None if 20 <= frame <= 22 else 1
    if person == 1:
        return 2 if frame < 40 else None if frame < 44 else 7
    return 9


@pytest.fixture(scope="module")
def truth(body):
    motion = ground_truth()
    return motion, motion_to_trace(body, motion, track_of, np.random.default_rng(1))


@pytest.fixture
def trace_file(truth, tmp_path):
    return save_trace(tmp_path / "clip.mp4.npz", truth[1], FRAMES)


def _same_rotations(a, b, atol=1e-4):
    np.testing.assert_allclose(Rotation.from_rotvec(a).as_matrix(), Rotation.from_rotvec(b).as_matrix(), atol=atol)


def test_tracks_become_people_with_masks_and_sequences(body, truth, trace_file):
    gt, outputs = truth
    assert (np.diff(outputs["reorganize_idx"]) < 0).any()  # rows really are out of order
    rows = read_trace_results(trace_file)
    assert rows.num_frames_seen == FRAMES and len(rows) == len(outputs["track_ids"])
    motion, tracks = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 7)])
    assert motion.person_ids == ["track1", "track2+7", "track9"]
    expected = gt.valid.copy()
    expected[0, 20:23] = False
    expected[1, 40:44] = False
    np.testing.assert_array_equal(motion.valid, expected)
    v = motion.valid
    np.testing.assert_allclose(motion.body_pose[v], gt.body_pose[v], atol=1e-6)
    _same_rotations(motion.global_orient[v], gt.global_orient[v])
    np.testing.assert_allclose(motion.transl[v], gt.transl[v], atol=2e-5)  # world = the static camera's frame
    np.testing.assert_allclose(motion.betas, gt.betas, atol=1e-4)  # stature fitted from the joints
    assert not motion.transl[~v].any() and motion.body_model == "mannequin"
    np.testing.assert_array_equal(motion.extrinsics, np.repeat(np.eye(4)[None], FRAMES, 0))
    person = {t.person_id: t for t in tracks}
    assert person["track1"].gaps == [(20, 22)] and person["track1"].frames == FRAMES - 3
    assert person["track2+7"].gaps == [(40, 43)] and (person["track2+7"].first, person["track2+7"].last) == (5, 70)
    assert person["track9"].windows == 0
    assert "shorter than one 46-frame window" in person["track9"].describe(WindowSpec())

    unmerged, _ = trace_to_motion(rows, body, SIZE, FRAMES)
    assert unmerged.person_ids == ["track1", "track2", "track9", "track7"]
    np.testing.assert_array_equal(unmerged.valid[3], (np.arange(FRAMES) >= 44) & (np.arange(FRAMES) <= 70))


def test_keep_and_min_frames_choose_people(body, trace_file):
    rows = read_trace_results(trace_file)
    longest, tracks = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 7)], keep=2)
    assert longest.person_ids == ["track1", "track2+7"]
    assert [t.kept for t in tracks] == [True, True, False] and "not among the 2 longest" in tracks[2].reason
    # person2 stands at 5.5 m, person0 at 5 m: the nearest, person0, is also the largest in the image
    largest, _ = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 7)], keep=1, rank_by="size")
    assert largest.person_ids == ["track1"]
    near = ground_truth(depths=(5.0, 6.0, 2.0))
    rows_near = read_trace_results(
        save_trace(trace_file.parent / "near.npz", motion_to_trace(body, near, track_of, np.random.default_rng(2)))
    )
    assert trace_to_motion(rows_near, body, SIZE, FRAMES, keep=1, rank_by="size")[0].person_ids == ["track9"]
    trimmed, _ = trace_to_motion(rows, body, SIZE, FRAMES, min_frames=30)
    assert trimmed.person_ids == ["track1", "track2"]  # track2 has 35 frames, track7 27, track9 5


def test_intrinsics_follow_trace_camera(body, trace_file):
    motion, _ = trace_to_motion(read_trace_results(trace_file), body, SIZE, FRAMES)
    # f = 548 * max(48, 64) / 512 = 68.5; principal point at the image centre (32, 24)
    np.testing.assert_allclose(motion.intrinsics, [[68.5, 0, 32], [0, 68.5, 24], [0, 0, 1]])


@pytest.mark.parametrize("with_j3d", [True, False])
@pytest.mark.parametrize("moving_camera", [False, True])
def test_placed_mesh_projects_its_hips_onto_the_rows_hip_keypoints(body, tmp_path, with_j3d, moving_camera):
    rng = np.random.default_rng(5)
    n, size = 12, (480, 640)
    world_to_camera = np.repeat(np.eye(4)[None], n, 0)
    if moving_camera:
        world_to_camera[:, :3, :3] = Rotation.from_rotvec(rng.normal(0, 0.2, (n, 3))).as_matrix()
        world_to_camera[:, :3, 3] = rng.normal(0, 0.5, (n, 3))
    # people standing (y down in the camera) ~4 m away, turned any way about their vertical axis
    root = Rotation.from_euler("x", 180, degrees=True) * Rotation.from_euler("y", rng.uniform(-3, 3, (n, 1)))
    cam_from_world = Rotation.from_matrix(world_to_camera[:, :3, :3])
    orient = (cam_from_world.inv() * root).as_rotvec()
    centre_cam = np.stack([rng.uniform(-1, 1, n), rng.uniform(-0.3, 0.3, n), rng.uniform(3, 5, n)], 1)
    transl = np.einsum("nji,nj->ni", world_to_camera[:, :3, :3], centre_cam - world_to_camera[:, :3, 3])
    pose, betas = rng.normal(0, 0.3, (n, 69)), stature_only(rng.normal(0, 1, 10))
    if not with_j3d:
        betas[:] = 0.0  # without joints to fit, the mannequin takes zero betas: TRACE's body here has them too
    outputs = trace_rows(body, orient, pose, betas, transl, world_to_camera, size)
    outputs |= {"reorganize_idx": np.arange(n), "track_ids": np.ones(n, int), "center_confs": np.ones(n)}
    if not with_j3d:
        del outputs["j3d"]
    rows = read_trace_results(save_trace(tmp_path / "rows.npz", outputs))
    motion, _ = trace_to_motion(rows, body, size, n, extrinsics=world_to_camera if moving_camera else None)
    _, joints = body.forward(motion.global_orient[0], motion.body_pose[0], motion.betas[0], motion.transl[0])
    for frame in range(n):
        camera = Camera(motion.intrinsics, motion.extrinsics[frame], *size)
        r_hip, l_hip = camera.project(joints[frame, [2, 1]])
        hip_midpoint = camera.project(joints[frame, [1, 2]].mean(0)[None])[0]
        keypoints = outputs["pj2d_org"][frame]
        assert np.linalg.norm(hip_midpoint - keypoints[[35, 36]].mean(0)) < 1.0
        np.testing.assert_allclose([r_hip, l_hip], keypoints[[35, 36]], atol=0.05)  # both hips, well below a pixel
    if moving_camera:
        np.testing.assert_allclose(motion.transl[0], transl, atol=1e-4)  # back in the given world frame


def test_smplx_file_places_through_the_same_path(tmp_path, trace_file):
    from test_body_model import _fake_smplx_file

    path = tmp_path / "SMPLX_NEUTRAL.npz"
    _fake_smplx_file(path)
    smplx_body = load_body_model(path)
    rows = read_trace_results(trace_file)
    motion, _ = trace_to_motion(rows, smplx_body, SIZE, FRAMES, merge=[(2, 7)], keep=1)
    assert motion.body_model == "smplx"
    # the SMPL-X body's hips land on TRACE's hip midpoint (its pelvis on TRACE's pelvis)
    frames = np.flatnonzero(motion.valid[0])[:3]
    _, joints = smplx_body.forward(
        motion.global_orient[0, frames], motion.body_pose[0, frames], motion.betas[0], motion.transl[0, frames]
    )
    first_rows = [np.flatnonzero((rows.frame == f) & (rows.track == 1))[0] for f in frames]
    np.testing.assert_allclose(joints[:, 0], rows.cam_trans[first_rows] + rows.j3d[first_rows, 0], atol=1e-4)


# --- bad input --------------------------------------------------------------------------------


def test_another_layout_names_the_missing_keys(truth, tmp_path):
    outputs = {k: v for k, v in truth[1].items() if k not in ("cam_trans", "track_ids")}
    with pytest.raises(MotionError, match=r"misses \['track_ids', 'cam_trans'\]"):
        read_trace_results(save_trace(tmp_path / "other.npz", outputs))
    np.savez(tmp_path / "plain.npz", poses=np.zeros((3, 72)))
    with pytest.raises(MotionError, match=r"no 'outputs' entry \(it holds \['poses'\]\)"):
        read_trace_results(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(MotionError, match="text.npz is not an npz file"):
        read_trace_results(tmp_path / "text.npz")
    bad_shape = dict(truth[1]) | {"smpl_thetas": truth[1]["smpl_thetas"][:, :66]}
    with pytest.raises(MotionError, match=r"'smpl_thetas' has shape \(\d+, 66\), expected \(\d+, 72\)"):
        read_trace_results(save_trace(tmp_path / "shape.npz", bad_shape))
    with pytest.raises(MotionError, match="does not exist"):
        read_trace_results(tmp_path / "absent.npz")


def test_bad_tracks_and_frames(body, trace_file):
    rows = read_trace_results(trace_file)
    with pytest.raises(MotionError, match=r"frame indices up to 79, beyond the video's 60 frames"):
        trace_to_motion(rows, body, SIZE, 60)
    with pytest.raises(MotionError, match="names track id 5, which is not in the file"):
        trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 5)])
    with pytest.raises(MotionError, match="track.s. 1\\+2 have two detections at frame 5: they are different people"):
        trace_to_motion(rows, body, SIZE, FRAMES, merge=[(1, 2)])
    with pytest.raises(MotionError, match="no track is left after --min-frames 500"):
        trace_to_motion(rows, body, SIZE, FRAMES, min_frames=500)
    with pytest.raises(MotionError, match="lie .* px .* for a 96x128 video"):
        trace_to_motion(rows, body, (96, 128), FRAMES)  # made for 48x64 frames


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, np.zeros((FRAMES, *SIZE, 3), np.uint8), fps=24)
    return path


def test_import_writes_a_motion_file(trace_file, video, tmp_path):
    result = import_trace(trace_file, video, tmp_path / "motion.npz", merge=[(2, 7)], keep=1)
    saved = load_motion(tmp_path / "motion.npz")
    assert saved.person_ids == ["track1"] and saved.fps == 24 and saved.image_size == SIZE
    assert result.windows == 12 and result.exact_pelvis  # the gap at 20-22 leaves starts 23..34
    text = result.summary()
    assert "track1 (TRACE track 1): 77 frames tracked in 0-79, 1 gap(s): 20-22; fills 12 window(s)" in text
    assert "dropped track2+7" in text and "dropped track9" in text


def test_import_refuses_tracks_that_fill_no_window(body, truth, trace_file, video, tmp_path):
    gt = truth[0]
    short = Motion(
        gt.global_orient,
        gt.body_pose,
        gt.betas,
        gt.transl,
        gt.valid & (np.arange(FRAMES) < 30),
        gt.intrinsics,
        gt.extrinsics,
        SIZE,
    )
    path = save_trace(tmp_path / "short.npz", motion_to_trace(body, short, track_of, np.random.default_rng(3)))
    with pytest.raises(MotionError, match="(?s)no valid 46-frame window.*track1 .*shorter than one 46-frame window"):
        import_trace(path, video, tmp_path / "motion.npz")
    gaps = "(?s)no valid 46-frame window.*track2\\+7 .*gaps leave it no complete window"
    with pytest.raises(MotionError, match=gaps):
        import_trace(trace_file, video, tmp_path / "motion.npz", merge=[(2, 7)])
    assert not (tmp_path / "motion.npz").exists()


def test_import_refuses_trace_of_a_longer_video(trace_file, video, tmp_path, truth):
    longer = save_trace(tmp_path / "longer.npz", truth[1], FRAMES + 40)  # TRACE saw 120 frames
    with pytest.raises(MotionError, match="covers 120 frames, but video .* has 80"):
        import_trace(longer, video, tmp_path / "motion.npz")


def _cli(args):
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output.strip()


def test_cli_import_trace(trace_file, video, tmp_path):
    out = tmp_path / "motion.npz"
    code, output = _cli(
        [
            "import-trace",
            str(trace_file),
            "--video",
            str(video),
            "--out",
            str(out),
            "--merge",
            "2+7",
            "--min-frames",
            "46",
            "--keep",
            "1",
        ]
    )
    assert code == 0, output
    assert output.startswith(f"wrote {out}: 1 person(s), 80 frames of 48x64") and "12 valid window(s)" in output
    assert "dropped track2+7 (TRACE track 2+7)" in output and "not among the 1 longest" in output
    assert "dropped track9" in output and "fewer than --min-frames 46" in output
    assert load_motion(out).person_ids == ["track1"]


def test_cli_import_trace_bad_input(trace_file, video, tmp_path):
    out = tmp_path / "motion.npz"
    cases = [
        (["--merge", "2,x"], "expected track ids like 3,7"),
        (["--body-model", str(trace_file.with_suffix(".txt"))], "does not exist"),
        (["--merge", "2,99"], "names track id 99, which is not in the file"),
    ]
    trace_file.with_suffix(".json").write_text("{}")
    cases.append((["--body-model", str(trace_file.with_suffix(".json"))], "expected .pkl or .npz"))
    for extra, message in cases:
        code, output = _cli(["import-trace", str(trace_file), "--video", str(video), "--out", str(out), *extra])
        assert code != 0 and message in output, (extra, output)
        assert not out.exists()


# --- the camera from TRACE's world outputs, confidences, frame rate ---------------------------


def panning_camera(frames=FRAMES):
    """World-to-camera extrinsics of a camera that pans 0.4 rad about y and dollies 1.2 m along x."""
    extrinsics = np.repeat(np.eye(4)[None], frames, 0)
    share = np.arange(frames) / (frames - 1)
    extrinsics[:, :3, :3] = Rotation.from_euler("y", 0.4 * share[:, None]).as_matrix()
    centre = np.stack([1.2 * share, np.zeros(frames), np.zeros(frames)], 1)  # camera centre in the world
    extrinsics[:, :3, 3] = -np.einsum("nij,nj->ni", extrinsics[:, :3, :3], centre)
    return extrinsics


def two_walkers(extrinsics):
    """person0 in frames 0-59, person1 in 20-79: each track starts its own TRACE world at its first frame."""
    gt = ground_truth(depths=(5.0, 6.0, 5.5))
    valid = np.zeros_like(gt.valid)
    valid[0, :60] = True
    valid[1, 20:] = True
    return Motion(gt.global_orient, gt.body_pose, gt.betas, gt.transl, valid, gt.intrinsics, extrinsics, SIZE)


def walkers_track(person, frame):
    """person0: track 1; person1: track 2, lost at 50-51, back as track 5 (a new TRACE world from frame 52)."""
    if person == 0:
        return 1
    return 2 if frame < 50 else None if frame < 52 else 5


def _meshes(body, motion, frame):
    people = np.flatnonzero(motion.valid[:, frame])
    vertices, _ = body.forward(
        motion.global_orient[people, frame],
        motion.body_pose[people, frame],
        motion.betas[people],
        motion.transl[people, frame],
    )
    return list(vertices), list(people)


def _render(body, motion, frame):
    """The avatar frame the builder would draw (before its crop): the bodies through the frame's camera."""
    meshes, people = _meshes(body, motion, frame)
    return render_people(meshes, body.faces, Camera(motion.intrinsics, motion.extrinsics[frame], *SIZE), people)


def test_a_moving_camera_is_derived_from_traces_world_outputs(body, tmp_path):
    truth = two_walkers(panning_camera())
    rows = read_trace_results(
        save_trace(tmp_path / "pan.npz", motion_to_trace(body, truth, walkers_track, np.random.default_rng(4)))
    )
    motion, _ = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 5)])  # on by default: the file has world outputs
    # the world is TRACE's world of the first person: the camera frame at frame 0
    to_first = truth.extrinsics[0]
    expected = np.einsum("nij,jk->nik", truth.extrinsics, np.linalg.inv(to_first))
    np.testing.assert_allclose(motion.extrinsics, expected, atol=1e-5)  # frames 60-79 too, seen by track 5 only
    for frame in (0, 30, 70):
        ours, _ = _meshes(body, motion, frame)
        theirs, _ = _meshes(body, truth, frame)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b @ to_first[:3, :3].T + to_first[:3, 3], atol=2e-4)  # world-frame bodies
    # the renders are those of the camera-frame bodies, as with a static camera
    static, _ = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 5)], camera="static")
    np.testing.assert_array_equal(static.extrinsics, np.repeat(np.eye(4)[None], FRAMES, 0))
    for frame in (5, 40, 75):
        moving_view, static_view = _render(body, motion, frame), _render(body, static, frame)
        different = (moving_view != static_view).any(axis=-1).sum()  # float rounding may flip an edge pixel
        assert moving_view.any() and different <= 2, frame


def test_a_static_camera_renders_exactly_as_before(body, truth, trace_file):
    rows = read_trace_results(trace_file)
    derived, _ = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 7)])
    static, _ = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 7)], camera="static")
    np.testing.assert_allclose(derived.extrinsics, static.extrinsics, atol=1e-6)
    np.testing.assert_allclose(derived.transl, static.transl, atol=1e-6)
    for frame in (0, 25, 60):
        np.testing.assert_array_equal(_render(body, derived, frame), _render(body, static, frame))
    no_world = {
        k: v
        for k, v in motion_to_trace(body, truth[0], track_of, np.random.default_rng(1)).items()
        if not k.startswith("world")
    }
    plain = read_trace_results(save_trace(trace_file.parent / "plain.npz", no_world))
    auto, _ = trace_to_motion(plain, body, SIZE, FRAMES, merge=[(2, 7)])
    np.testing.assert_array_equal(auto.extrinsics, static.extrinsics)
    with pytest.raises(MotionError, match="has no world outputs"):
        trace_to_motion(plain, body, SIZE, FRAMES, camera="trace")


def test_min_center_conf_drops_frames_trace_filled_from_memory(body, truth, tmp_path):
    outputs = dict(truth[1])
    occluded = (outputs["track_ids"] == 1) & np.isin(outputs["reorganize_idx"], [50, 51, 52])
    outputs["center_confs"] = np.where(occluded, 0.05, outputs["center_confs"]).reshape(-1, 1)  # TRACE's (N, 1)
    rows = read_trace_results(save_trace(tmp_path / "conf.npz", outputs, FRAMES))
    kept, _ = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 7)])
    assert kept.valid[0, 50:53].all()
    dropped, tracks = trace_to_motion(rows, body, SIZE, FRAMES, merge=[(2, 7)], min_center_conf=0.2)
    assert not dropped.valid[0, 50:53].any() and dropped.valid[0, 49] and dropped.valid[0, 53]
    np.testing.assert_array_equal(dropped.valid[1:], kept.valid[1:])  # confidences >= 0.3 elsewhere
    assert tracks[0].low_confidence == 3 and "3 row(s) below --min-center-conf dropped" in tracks[0].describe(
        WindowSpec()
    )
    del outputs["center_confs"]
    rows = read_trace_results(save_trace(tmp_path / "noconf.npz", outputs))
    with pytest.raises(MotionError, match="no 'center_confs'"):
        trace_to_motion(rows, body, SIZE, FRAMES, min_center_conf=0.2)


def test_import_refuses_a_film_frame_rate_and_says_how_to_retime(trace_file, tmp_path):
    from amg_bench.errors import VideoError

    film = tmp_path / "film.mp4"
    write_video(film, np.zeros((FRAMES, *SIZE, 3), np.uint8), fps=24000 / 1001)
    with pytest.raises(VideoError, match=r"runs at 23.976 fps; sources must be 24 fps.*`ffmpeg -r 24 -i in.mp4 "):
        import_trace(trace_file, film, tmp_path / "motion.npz")
    assert not (tmp_path / "motion.npz").exists()


def test_cli_import_trace_camera_and_confidence_options(body, tmp_path, video):
    truth = two_walkers(panning_camera())
    outputs = motion_to_trace(body, truth, walkers_track, np.random.default_rng(4))
    occluded = (outputs["track_ids"] == 1) & np.isin(outputs["reorganize_idx"], [50, 51, 52])
    outputs["center_confs"] = np.where(occluded, 0.1, 0.9)
    trace = save_trace(tmp_path / "pan.npz", outputs, FRAMES)
    out = tmp_path / "motion.npz"
    code, output = _cli(["import-trace", str(trace), "--video", str(video), "--out", str(out), "--keep", "1"])
    assert code == 0, output
    assert "camera: derived from TRACE's world outputs (60 of 80 frames estimated, the rest interpolated)" in output
    assert not np.allclose(load_motion(out).extrinsics[-1], np.eye(4))
    code, output = _cli(
        [
            "import-trace",
            str(trace),
            "--video",
            str(video),
            "--out",
            str(out),
            "--overwrite",
            "--keep",
            "1",
            "--static-camera",
            "--min-center-conf",
            "0.5",
        ]
    )
    assert code == 0 and "camera: static" in output and "3 row(s) below --min-center-conf dropped" in output, output
    assert "5 valid window(s)" in output  # starts 0-4: later ones sample one of frames 50-52
    np.testing.assert_array_equal(load_motion(out).extrinsics[-1], np.eye(4))
    code, output = _cli(
        [
            "import-trace",
            str(trace),
            "--video",
            str(video),
            "--out",
            str(out),
            "--overwrite",
            "--static-camera",
            "--extrinsics",
            str(trace),
        ]
    )
    assert code == 2 and "exclude each other" in output
