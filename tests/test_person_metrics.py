"""Identity consistency, identity swaps and pose accuracy: hand-built cases, tiny models in the Hub layout, the runner."""

from __future__ import annotations

import numpy as np
import pytest
from person_models_for_tests import save_tiny_dinov2, save_tiny_vitpose

from amg_bench.errors import MetricError, MissingWeightsError
from amg_bench.metrics.functional.person_metrics import identity_scores, masked_crop, pose_scores
from amg_bench.metrics.person_models import CachingPoseEstimator, IdentityEmbedder, PoseEstimator

# ---- the maths -------------------------------------------------------------------------------


def _two_people(frames: int = 16, swap_at: int | None = None) -> np.ndarray:
    a, b = np.array([1.0, 0.2, 0.0]), np.array([0.1, 1.0, 0.3])
    embeddings = np.stack([np.tile(a, (frames, 1)), np.tile(b, (frames, 1))])
    if swap_at is not None:
        embeddings[:, swap_at:] = embeddings[::-1, swap_at:]
    return embeddings


def test_two_people_who_exchange_looks_halfway_swap_half_the_time():
    kept = np.ones((2, 16), bool)
    same = identity_scores(_two_people(), kept)
    swapped = identity_scores(_two_people(swap_at=8), kept)
    assert same.consistency == pytest.approx(100.0) and same.swap_rate == 0.0
    assert swapped.swap_rate == pytest.approx(50.0)
    cos_ab = np.dot([1.0, 0.2, 0.0], [0.1, 1.0, 0.3]) / np.linalg.norm([1.0, 0.2, 0.0]) / np.linalg.norm([0.1, 1, 0.3])
    assert swapped.consistency == pytest.approx(100 * (8 * 1.0 + 8 * cos_ab) / 16)  # by hand, lower than unswapped
    assert swapped.pairs == 32


def test_skipped_crops_and_people_without_a_frame_0_reference_do_not_count():
    kept = np.ones((2, 16), bool)
    kept[0, 8:] = False  # person 0 hidden from frame 8 on: only its first half counts
    scores = identity_scores(_two_people(swap_at=8), kept)
    assert scores.pairs == 8 + 16 and scores.swap_rate == pytest.approx(100 * 8 / 24)
    kept[1, 0] = False  # person 1 has no frame-0 crop: no reference, and one person left cannot swap
    alone = identity_scores(_two_people(swap_at=8), kept)
    assert alone.swap_rate is None and alone.consistency == pytest.approx(100.0) and alone.pairs == 8
    assert identity_scores(_two_people(), np.zeros((2, 16), bool)).consistency is None


def test_identical_keypoints_are_perfect_and_a_known_shift_is_the_akd():
    rng = np.random.default_rng(0)
    real = rng.uniform(0, 200, (2, 16, 17, 2))
    scores = rng.uniform(0.5, 1.0, (2, 16, 17))
    sides = np.full((2, 16), 100.0)
    same = pose_scores(real, scores, real, scores, sides, threshold=0.3)
    assert (same.pck, same.akd, same.mkr, same.targets) == (100.0, 0.0, 0.0, 2 * 16 * 17)
    shifted = pose_scores(real, scores, real + [3.0, 4.0], scores, sides, threshold=0.3)
    assert shifted.akd == pytest.approx(5.0) and shifted.pck == 100.0  # 5 px < 0.1 x 100
    far = pose_scores(real, scores, real + [30.0, 40.0], scores, sides, threshold=0.3)
    assert far.akd == pytest.approx(50.0) and far.pck == 0.0


def test_only_keypoints_confident_in_the_real_frame_are_targets():
    real = np.zeros((1, 4, 2))
    generated = np.array([[[0.0, 0.0], [9.0, 0.0], [50.0, 0.0], [0.0, 0.0]]])
    real_score = np.array([[0.9, 0.9, 0.9, 0.1]])  # the last one is no target
    generated_score = np.array([[0.9, 0.2, 0.9, 0.9]])  # the second one is missed
    scores = pose_scores(real, real_score, generated, generated_score, np.array([100.0]), threshold=0.3)
    assert scores.targets == 3 and scores.pck == pytest.approx(200 / 3)  # 0 and 9 px within 10, 50 px not
    assert scores.akd == pytest.approx(59 / 3) and scores.mkr == pytest.approx(100 / 3)
    assert pose_scores(real, np.zeros((1, 4)), generated, generated_score, np.array([1.0]), 0.3).pck is None


def test_masked_crop_fills_pixels_outside_the_person():
    frame = np.full((10, 10, 3), 200, np.uint8)
    mask = np.zeros((10, 10), bool)
    mask[2:6, 3:5] = True
    crop = masked_crop(frame, mask, np.array([2, 1, 6, 7]), (1, 2, 3))
    assert crop.shape == (7, 5, 3)
    assert (crop[1:5, 1:3] == 200).all() and (crop[0] == (1, 2, 3)).all() and (crop[:, 0] == (1, 2, 3)).all()


# ---- the models --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("person_models")
    return {"identity": save_tiny_dinov2(root / "dinov2"), "pose": save_tiny_vitpose(root / "vitpose")}


def test_models_load_from_a_folder_in_the_hub_layout(models):
    embedder = IdentityEmbedder(models["identity"])
    crops = [np.zeros((20, 10, 3), np.uint8), np.full((40, 30, 3), 200, np.uint8)]
    vectors = embedder.embed(crops)
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(crops[:1]), vectors[:1], atol=1e-6)  # batch independent
    estimator = PoseEstimator(models["pose"])
    frames = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    boxes = np.array([[[5, 5, 40, 60], [np.nan] * 4]], np.float32)
    keypoints = estimator.keypoints(frames, boxes)
    assert keypoints["xy"].shape == (1, 2, 17, 2) and np.isnan(keypoints["xy"][0, 1]).all()
    assert (keypoints["score"][0, 1] == 0).all() and (keypoints["score"][0, 0] > 0).all()
    xy = keypoints["xy"][0, 0]
    # in image pixels around the box it was given (VitPose enlarges a box before cropping it)
    assert (xy[:, 0] >= 5 - 36).all() and (xy[:, 0] <= 40 + 36).all() and (xy[:, 1] >= 5 - 56).all()


def test_real_frame_keypoints_are_cached(models, tmp_path):
    estimator = PoseEstimator(models["pose"])
    calls = []
    original = estimator.keypoints
    estimator.keypoints = lambda *a: calls.append(1) or original(*a)
    cached = CachingPoseEstimator(estimator, tmp_path)
    frames = np.random.default_rng(1).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    boxes = np.array([[[5, 5, 40, 60]] * 2], np.float32)
    first, second = cached.keypoints(frames, boxes), cached.keypoints(frames, boxes)
    np.testing.assert_array_equal(first["xy"], second["xy"])
    assert len(calls) == 1 and cached.cache.stats() == {"hits": 1, "misses": 1}


def test_missing_models_are_named_with_their_download(tmp_path):
    with pytest.raises(MissingWeightsError, match="hf download facebook/dinov2-small"):
        IdentityEmbedder("facebook/dinov2-small")  # tests run offline with an empty cache for it
    with pytest.raises(MissingWeightsError, match="hf download usyd-community/vitpose-base-simple"):
        PoseEstimator("usyd-community/vitpose-base-simple")


# ---- through the runner ------------------------------------------------------------------------


def _suite(models, metrics=("identity", "pose"), root=None):
    from amg_bench.evaluation.protocols import protocol_scoring
    from amg_bench.evaluation.scoring import MetricSuite

    settings = protocol_scoring("offline", metrics=metrics, identity_model=models["identity"],
                                pose_model=models["pose"], pose_threshold=0.05)  # fmt: skip
    return MetricSuite(settings, "cpu", cache_root=root)


def _row(people, frames=4, size=64):
    k = [[size, 0.0, size / 2 - 0.5], [0.0, size, size / 2 - 0.5], [0.0, 0.0, 1.0]]
    smpl = [{"global_orient": [[np.pi, 0.0, 0.0]] * frames, "body_pose": [[0.0] * 69] * frames,
             "betas": [0.0] * 10, "transl": [list(p)] * frames} for p in people]  # fmt: skip
    return {
        "clip_id": "c",
        "num_frames": frames,
        "body_model": "mannequin",
        "scene_caption": "two people",
        "smpl": smpl,
        "camera": {"intrinsics": k, "extrinsics": [np.eye(4).tolist()] * frames, "height": size, "width": size},
    }


def test_the_real_clip_against_itself_is_the_ceiling(models, tmp_path):
    suite = _suite(models, root=tmp_path)
    frame = np.random.default_rng(2).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    video = np.repeat(frame, 4, axis=0)  # every frame the same: each person looks like themselves throughout
    values = suite.score(video, video, _row([(-0.5, 0.0, 2.5), (0.5, 0.0, 2.5)]))
    assert values["identity_consistency"] == pytest.approx(100.0, abs=1e-4) and values["identity_swap_rate"] == 0.0
    assert values["pose_pck"] == 100.0 and values["pose_akd"] == 0.0 and values["pose_mkr"] == 0.0
    assert values["identity_crops"] == 8 and values["pose_targets"] > 0


def test_a_person_hidden_behind_another_is_skipped_in_those_frames(models, tmp_path):
    suite = _suite(models, metrics=("identity",), root=tmp_path)
    video = np.random.default_rng(3).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    values = suite.score(video, video, _row([(0.0, 0.0, 6.0), (0.0, 0.0, 2.5)]))  # person 0 right behind person 1
    assert values["identity_crops"] == 4  # only the front person is visible enough to embed
    assert values["identity_swap_rate"] is None  # no second reference: nothing to swap with


def test_a_generated_video_of_another_size_is_refused(models, tmp_path):
    suite = _suite(models, root=tmp_path)
    video = np.zeros((4, 64, 64, 3), np.uint8)
    with pytest.raises(MetricError, match="person metrics compare the two frame by frame"):
        suite.score(video[:, :32], video, _row([(0.0, 0.0, 2.5)]))


def test_evaluate_records_the_person_metrics_and_their_protocol(models, tmp_path):
    from datasets_for_tests import write_tiny_dataset

    from amg_bench.evaluation.protocols import protocol_scoring
    from amg_bench.evaluation.runner import EvaluationConfig, evaluate

    dataset = write_tiny_dataset(tmp_path / "ds", num_clips=2, size=64)
    scoring = protocol_scoring("offline", metrics=("identity", "pose"), identity_model=models["identity"],
                               pose_model=models["pose"], pose_threshold=0.05)  # fmt: skip
    summary = evaluate(EvaluationConfig(method="avatar", dataset=str(dataset), out=tmp_path / "run",
                                        cache_dir=tmp_path / "cache", protocol="offline", scoring=scoring,
                                        progress=False))  # fmt: skip
    results = summary.results
    assert {"identity_consistency", "pose_pck", "pose_akd", "pose_mkr"} <= set(results.metrics)
    assert "identity_swap_rate" not in results.metrics  # one person per clip: never a swap to measure
    assert results.protocol.identity["model"] == models["identity"] and results.protocol.pose["threshold"] == 0.05
    assert results.diagnostics["identity_crops"].mean == 16.0


def test_the_gallery_can_overlay_masks_and_keypoints(models, tmp_path):
    from datasets_for_tests import write_tiny_dataset

    from amg_bench.evaluation.protocols import protocol_scoring
    from amg_bench.evaluation.runner import EvaluationConfig, evaluate
    from amg_bench.leaderboard import build_leaderboard
    from amg_bench.video import read_video

    dataset = write_tiny_dataset(tmp_path / "ds", num_clips=2, size=64)
    scoring = protocol_scoring("offline", metrics=("pose",), pose_model=models["pose"], pose_threshold=0.05)
    run = evaluate(EvaluationConfig(method="frozen", dataset=str(dataset), out=tmp_path / "run", protocol="offline",
                                    cache_dir=tmp_path / "cache", scoring=scoring, progress=False)).out  # fmt: skip
    clip = sorted(p.stem for p in (run / "people").glob("*.npz"))[0]
    board = build_leaderboard([run], tmp_path / "board", dataset=str(dataset), reported=None)
    html = (board / "index.html").read_text()
    assert 'id="overlay-toggle"' in html and f'data-overlay="overlays/real/{clip}.mp4"' in html
    assert f'data-overlay="overlays/m00-frozen/{clip}.mp4"' in html
    plain, overlay = (
        read_video(board / "videos/real" / f"{clip}.mp4"),
        read_video(board / "overlays/real" / f"{clip}.mp4"),
    )
    assert plain.shape == overlay.shape and np.abs(plain.astype(int) - overlay).max() > 50  # the person is tinted
