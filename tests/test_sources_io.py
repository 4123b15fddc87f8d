"""Motion files, captions files and manifests: round trips and every bad input."""

import numpy as np
import pytest

from amg_bench.data.captions import Captions, load_captions, save_captions
from amg_bench.data.manifest import load_manifest
from amg_bench.data.motion import Motion, load_motion, save_motion
from amg_bench.errors import CaptionError, ManifestError, MotionError


def make_motion(people=2, frames=10, **overrides):
    fields = dict(
        global_orient=np.zeros((people, frames, 3)),
        body_pose=np.zeros((people, frames, 69)),
        betas=np.zeros((people, 10)),
        transl=np.zeros((people, frames, 3)),
        valid=np.ones((people, frames), bool),
        intrinsics=np.array([[100, 0, 32], [0, 100, 24], [0, 0, 1]]),
        extrinsics=np.repeat(np.eye(4)[None], frames, 0),
        image_size=(48, 64),
    )
    fields.update(overrides)
    return Motion(**fields)


def test_motion_round_trip(tmp_path):
    motion = make_motion()
    motion.transl[1, 3] = (1, 2, 3)
    save_motion(tmp_path / "m.npz", motion)
    loaded = load_motion(tmp_path / "m.npz")
    assert loaded.person_ids == ["person0", "person1"]
    assert loaded.transl[1, 3].tolist() == [1, 2, 3]
    assert loaded.image_size == (48, 64) and loaded.body_model == "mannequin"
    assert not list(tmp_path.glob(".*tmp"))


def test_nan_frames_count_as_missing(tmp_path):
    pose = np.zeros((1, 5, 69))
    pose[0, 2, 7] = np.nan
    transl = np.zeros((1, 5, 3))
    transl[0, 4, 0] = np.inf
    motion = make_motion(people=1, frames=5, body_pose=pose, transl=transl)
    assert motion.valid[0].tolist() == [True, True, False, True, False]
    assert np.isfinite(motion.body_pose).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"body_pose": np.zeros((2, 10, 72))}, r"'body_pose' must have shape \(2, 10, 69\)"),
        ({"extrinsics": np.zeros((9, 4, 4))}, "'extrinsics' must be finite with shape"),
        ({"intrinsics": np.zeros((3, 3))}, "positive focal"),
        ({"betas": np.full((2, 10), np.nan)}, "'betas' holds NaN"),
        ({"body_model": "smplh"}, "'body_model' must be one of"),
        ({"person_ids": ["a", "a"]}, "distinct"),
    ],
)
def test_bad_motion_is_named(overrides, message):
    with pytest.raises(MotionError, match=message):
        make_motion(**overrides)


def test_bad_motion_files(tmp_path):
    with pytest.raises(MotionError, match="does not exist"):
        load_motion(tmp_path / "nope.npz")
    np.savez(tmp_path / "partial.npz", valid=np.ones((1, 3), bool))
    with pytest.raises(MotionError, match=r"misses keys \['global_orient'"):
        load_motion(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MotionError, match=r"junk.npz is not an npz file \(it starts with b'not a zi'"):
        load_motion(tmp_path / "junk.npz")
    np.savez(tmp_path / "pickled.npz", global_orient=np.array([{"a": 1}], dtype=object))
    with pytest.raises(MotionError, match="array 'global_orient' holds pickled Python objects, which are never loaded"):
        load_motion(tmp_path / "pickled.npz")


def test_captions_per_window_win_over_per_frame(tmp_path):
    captions = Captions(
        scene_frames={24: "frame 24", 25: "frame 25"}, scene_windows={1: "window 1"}, appearance={"p": "a person"}
    )
    save_captions(tmp_path / "c.json", captions)
    loaded = load_captions(tmp_path / "c.json")
    assert loaded.scene(0, 24) == "frame 24"
    assert loaded.scene(1, 25) == "window 1"
    assert loaded.scene(2, 26) is None
    loaded.check_covers([(0, 24)], ["p"], "c.json")
    with pytest.raises(CaptionError, match=r"lack scene captions for 1 window middle frame\(s\): 26"):
        loaded.check_covers([(0, 24), (2, 26)], ["p"], "c.json")
    with pytest.raises(CaptionError, match=r"appearance captions for persons \['q'\]"):
        loaded.check_covers([(0, 24)], ["p", "q"], "c.json")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "not valid JSON"),
        ('{"scene": {}}', "unknown keys"),
        ('{"appearance": {}}', "needs 'scene_frames' or 'scene_windows'"),
        ('{"scene_frames": {"x": "a"}}', "key 'x' is not a frame number"),
        ('{"scene_frames": {"3": ""}}', "non-empty text"),
    ],
)
def test_bad_captions(tmp_path, content, message):
    (tmp_path / "c.json").write_text(content)
    with pytest.raises(CaptionError, match=message):
        load_captions(tmp_path / "c.json")


def write_manifest(tmp_path, body):
    for name in ("a.mp4", "a.npz", "a.json"):
        (tmp_path / name).write_bytes(b"x")
    path = tmp_path / "manifest.yaml"
    path.write_text(body)
    return path


def test_manifest_resolves_relative_paths(tmp_path):
    path = write_manifest(tmp_path, "sources:\n  - video: a.mp4\n    motion: a.npz\n    captions: a.json\n")
    (source,) = load_manifest(path)
    assert source.id == "a" and source.video == (tmp_path / "a.mp4").resolve()
    assert source.avatar_video is None


@pytest.mark.parametrize(
    "body, message",
    [
        ("sources: []", "non-empty list"),
        ("extra: 1\nsources: []", "unknown top-level keys"),
        ("sources:\n  - video: a.mp4\n    motion: a.npz\n", r"misses required fields \['captions'\]"),
        ("sources:\n  - {video: a.mp4, motion: a.npz, captions: a.json, color: red}", r"unknown keys \['color'\]"),
        (
            "sources:\n  - {video: b.mp4, motion: a.npz, captions: a.json}",
            r"sources\[0\]\.video: file .*b.mp4 does not exist",
        ),
        ("sources:\n  - {id: 'a b', video: a.mp4, motion: a.npz, captions: a.json}", "must match"),
        (
            "sources:\n  - {video: a.mp4, motion: a.npz, captions: a.json}\n  - {video: a.mp4, motion: a.npz, captions: a.json}",
            "used twice",
        ),
        ("sources: [", "not valid YAML"),
    ],
)
def test_bad_manifests(tmp_path, body, message):
    with pytest.raises(ManifestError, match=message):
        load_manifest(write_manifest(tmp_path, body))
