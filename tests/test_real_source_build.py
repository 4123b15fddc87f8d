"""A real-source build end to end, as the paper did it: video -> TRACE -> captions -> renders -> dataset.

The "film" is the procedural demo's video of a small scene; TRACE's results are written from
its ground-truth motion in TRACE's own layout (camera-frame roots, hip-midpoint translations,
shuffled rows, a tracking gap, a re-appearing person under a new id and a spurious short
track). The import must recover the ground truth's bodies, the tiny random VLM captions what
the windows need, and the builder turns it all into the dataset.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from datasets_for_tests import cell_frames as to_frames
from scenes_for_tests import two_people_scene
from test_captioner import save_tiny_llava
from trace_for_tests import motion_to_trace, save_trace

from amg_bench.data.body_model import load_body_model
from amg_bench.data.builder import BuildConfig, build_dataset, cropped_intrinsics
from amg_bench.data.captioner import caption_manifest
from amg_bench.data.captions import load_captions, save_captions
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.hub import load_benchmark
from amg_bench.data.motion import Motion, load_motion
from amg_bench.data.render import Camera, render_people
from amg_bench.data.sources.trace import import_trace
from amg_bench.errors import BuildError, CaptionError

SCENE = two_people_scene("film")
GAP = (30, 31)  # person1 is lost here and comes back as TRACE track 4
# The gap drops every window sampling frame 30 or 31: of starts 0..26, those with start % 3 == 2 survive.
EXPECTED_STARTS = list(range(2, 27, 3))


def track_of(person, frame):
    if person == 0:
        return 1
    if person == 1:
        return None if GAP[0] <= frame <= GAP[1] else 2 if frame < GAP[0] else 4
    return 9 if 3 <= frame <= 8 else None


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """The demo video, its ground truth, TRACE's results, the imported motion and the captions."""
    folder = tmp_path_factory.mktemp("film")
    write_demo_sources(folder, seed=4, scenes=[SCENE])
    body = load_body_model("mannequin")
    truth = load_motion(folder / "film.npz")
    assert truth.valid.all()
    with_spurious = Motion(  # a third, short-lived detection beside person1 (a false positive)
        np.concatenate([truth.global_orient, truth.global_orient[1:]]),
        np.concatenate([truth.body_pose, truth.body_pose[1:]]),
        np.concatenate([truth.betas, truth.betas[1:]]),
        np.concatenate([truth.transl, truth.transl[1:] + (0.6, 0, 0)]),
        np.concatenate([truth.valid, truth.valid[1:]]),
        truth.intrinsics,
        truth.extrinsics,
        truth.image_size,
    )
    trace = save_trace(
        folder / "film.mp4.npz", motion_to_trace(body, with_spurious, track_of, np.random.default_rng(0)), 72
    )
    imported = import_trace(trace, folder / "film.mp4", folder / "film.trace.npz", merge=[(2, 4)], keep=2)
    manifest = folder / "trace_manifest.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {"sources": [{"id": "film", "video": "film.mp4", "motion": "film.trace.npz", "captions": "film.vlm.json"}]}
        )
    )
    model = save_tiny_llava(folder / "tiny-llava")
    caption_manifest(
        manifest, model=model, device="cpu", batch_size=8, max_new_tokens=3, cache_dir=folder / "cache", progress=False
    )
    return folder, body, truth, imported, manifest


def test_import_recovers_the_ground_truth_bodies(film):
    _folder, body, truth, imported, _ = film
    motion = imported.motion
    assert motion.person_ids == ["track1", "track2+4"] and imported.windows == len(EXPECTED_STARTS)
    assert [t.person_id for t in imported.tracks if not t.kept] == ["track9"]
    expected_valid = truth.valid.copy()
    expected_valid[1, GAP[0] : GAP[1] + 1] = False
    np.testing.assert_array_equal(motion.valid, expected_valid)
    # The demo's people have a stature and a girth (mannequin betas 0 and 1). TRACE's betas are SMPL's, so the
    # import fits only the mannequin's stature, from TRACE's joints: the skeleton is recovered, the girth is not.
    np.testing.assert_allclose(motion.betas[:, 0], truth.betas[:, 0], atol=1e-3)
    assert not motion.betas[:, 1:].any()
    for person in range(2):
        frames = np.flatnonzero(motion.valid[person])
        _, ours = body.forward(
            motion.global_orient[person, frames],
            motion.body_pose[person, frames],
            motion.betas[person],
            motion.transl[person, frames],
        )
        _, theirs = body.forward(
            truth.global_orient[person, frames],
            truth.body_pose[person, frames],
            truth.betas[person],
            truth.transl[person, frames],
        )
        # ours: the world is the camera's frame; theirs: the demo's world, seen through its camera
        rotation, shift = truth.extrinsics[0, :3, :3], truth.extrinsics[0, :3, 3]
        np.testing.assert_allclose(ours, theirs @ rotation.T + shift, atol=2e-4)
    np.testing.assert_allclose(motion.intrinsics, truth.intrinsics, rtol=1e-6)  # the demo uses TRACE's camera


def test_manifest_builds_the_dataset(film, tmp_path):
    folder, body, truth, _imported, manifest = film
    out = tmp_path / "ds"
    config = BuildConfig(train_size=6, resolution=64, pose_video=True, avatar_style="flat")  # placement, not looks
    report = build_dataset(manifest, out, config, progress=False)
    assert report.splits == {"train": 6, "test": 3}
    ds = load_benchmark(out)
    rows = sorted((row for split in ds.values() for row in split), key=lambda r: r["start_frame"])
    assert [r["start_frame"] for r in rows] == EXPECTED_STARTS
    captions = load_captions(folder / "film.vlm.json")
    motion = load_motion(folder / "film.trace.npz")
    row = rows[1]
    assert row["scene_caption"] == captions.scene_frames[row["start_frame"] + 24]
    assert row["person_ids"] == ["track1", "track2+4"] and row["body_model"] == "mannequin"
    assert row["appearance_captions"] == [captions.appearance["track1"], captions.appearance["track2+4"]]
    sampled = row["start_frame"] + 3 * np.arange(16)
    np.testing.assert_allclose(row["smpl"][1]["transl"], motion.transl[1, sampled], rtol=1e-6)
    # the avatar is the ground truth's bodies, rendered from the ground truth's camera
    k = cropped_intrinsics(truth.intrinsics, *truth.image_size, 64)
    expected = []
    for frame in sampled:
        vertices, _ = body.forward(
            truth.global_orient[:, frame], truth.body_pose[:, frame], truth.betas, truth.transl[:, frame]
        )
        expected.append(render_people(list(vertices), body.faces, Camera(k, truth.extrinsics[frame], 64, 64), [0, 1]))
    avatar = to_frames(row["avatar_video"]).astype(int)
    assert np.abs(avatar - np.stack(expected)).mean() < 3.0
    assert np.abs(avatar - np.roll(np.stack(expected), 2, axis=2)).mean() > 3.0  # two pixels off is noticed
    assert to_frames(row["pose_video"]).shape == (16, 64, 64, 3)


def test_captions_that_miss_a_window_frame_are_refused(film, tmp_path):
    folder, _, _, _, _manifest = film
    captions = load_captions(folder / "film.vlm.json")
    del captions.scene_frames[EXPECTED_STARTS[2] + 24]
    save_captions(folder / "film.short.json", captions)
    short = tmp_path / "manifest.yaml"
    entry = {
        "id": "film",
        "video": str(folder / "film.mp4"),
        "motion": str(folder / "film.trace.npz"),
        "captions": str(folder / "film.short.json"),
    }
    short.write_text(yaml.safe_dump({"sources": [entry]}))
    lacking = f"lack scene captions for 1 window middle frame.s.: {EXPECTED_STARTS[2] + 24}"
    with pytest.raises(CaptionError, match=lacking):
        build_dataset(short, tmp_path / "ds", BuildConfig(train_size=6, resolution=32), progress=False)


def test_a_motion_made_for_smplx_is_not_rendered_with_the_mannequin(film, tmp_path):
    from test_body_model import _fake_smplx_file

    folder, _, _, _, _ = film
    smplx_file = _fake_smplx_file(tmp_path / "SMPLX_NEUTRAL.npz") or tmp_path / "SMPLX_NEUTRAL.npz"
    result = import_trace(
        folder / "film.mp4.npz",
        folder / "film.mp4",
        tmp_path / "film.smplx.npz",
        body_model=smplx_file,
        merge=[(2, 4)],
        keep=2,
    )
    assert result.motion.body_model == "smplx" and load_motion(tmp_path / "film.smplx.npz").body_model == "smplx"
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "id": "film",
                        "video": str(folder / "film.mp4"),
                        "motion": str(tmp_path / "film.smplx.npz"),
                        "captions": str(folder / "film.vlm.json"),
                    }
                ]
            }
        )
    )
    with pytest.raises(BuildError, match="made for the 'smplx' body model.*--body-model pointing at an SMPL-X file"):
        build_dataset(manifest, tmp_path / "ds", BuildConfig(train_size=6, resolution=32), progress=False)
    assert not (tmp_path / "ds").exists()
