"""MotionFidelity on videos: resize, track, score, config and errors (KLT tracker)."""

import numpy as np
import pytest

from amg_bench.errors import MetricError
from amg_bench.metrics.motion_fidelity import MotionFidelity, kept_points
from amg_bench.metrics.tracking import Tracks, get_tracker, grid_points


def sliding(dx, dy, frames=6, size=64, seed=0):
    """A blocky random texture translating by (dx, dy) pixels per frame (wrapping around)."""
    texture = np.random.default_rng(seed).integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    texture = texture.repeat(4, 0).repeat(4, 1)
    return np.stack([np.roll(texture, (dy * t, dx * t), axis=(0, 1)) for t in range(frames)])


def test_same_motion_scores_high_and_reversed_motion_negative():
    fidelity = MotionFidelity("klt", grid_size=10, eval_size=(64, 64))
    reference = sliding(2, 1)
    same_motion_other_texture = sliding(2, 1, seed=1)
    assert fidelity.score(same_motion_other_texture, reference).scores["chamfer"] > 80
    reversed_scores = fidelity.score(reference[::-1].copy(), reference).scores
    assert reversed_scores["chamfer"] < 0 and reversed_scores["dmt"] < 0


def test_videos_are_resized_to_the_evaluation_size():
    fidelity = MotionFidelity("klt", grid_size=6, eval_size=(32, 48))
    tracks = fidelity.tracks(sliding(2, 0)).positions
    assert tracks.shape == (6, 36, 2)
    np.testing.assert_allclose(tracks[0], grid_points(32, 48, 6))  # the grid of the resized video
    # a 2 px/frame slide at 64 px wide is 1.5 px/frame at 48 px wide
    middle = 6 * 3 + 3
    np.testing.assert_allclose(tracks[1:, middle, 0] - tracks[:-1, middle, 0], 1.5, atol=0.3)


def test_score_tracks_and_config():
    tracker = get_tracker("klt", window_size=15)
    fidelity = MotionFidelity(tracker, grid_size=5, eval_size=None, variants=("dmt",))
    video = sliding(1, 1)
    tracks = fidelity.tracks(video)
    assert set(fidelity.score_tracks(tracks, tracks).scores) == {"dmt"}
    config = fidelity.config()
    assert config["tracker"]["name"] == "klt" and config["tracker"]["window_size"] == 15
    assert config["tracker"]["approximation"] is True
    assert config["eval_size"] is None and config["grid_size"] == 5 and list(config["variants"]) == ["dmt"]
    assert MotionFidelity().config()["eval_size"] == [256, 256]


def test_errors():
    fidelity = MotionFidelity("klt", grid_size=4, eval_size=None)
    with pytest.raises(MetricError, match="generated video has 5 frames but the reference has 6"):
        fidelity.score(sliding(1, 0, frames=5), sliding(1, 0))
    with pytest.raises(MetricError, match="generated video is 32x32 but the reference is 64x64"):
        fidelity.score(sliding(1, 0, size=32), sliding(1, 0))
    with pytest.raises(MetricError, match=r"eval_size must be \(height, width\)"):
        MotionFidelity("klt", eval_size=(256,))
    with pytest.raises(MetricError, match="grid_size must be a positive integer"):
        MotionFidelity("klt", grid_size=0)
    with pytest.raises(MetricError, match="need a tracker name"):
        MotionFidelity(get_tracker("klt"), window_size=9)
    with pytest.raises(MetricError, match="variant must be one of"):
        MotionFidelity("klt", variants=("l2",))


def _tracks(steps, start=(0.0, 0.0), tracked=None):
    """Tracks of points whose per-step displacements are ``steps[point] = [(dx, dy), ...]``."""
    positions = []
    for point_steps in steps:
        path = [np.asarray(start, float)]
        for step in point_steps:
            path.append(path[-1] + step)
        positions.append(path)
    positions = np.asarray(positions, np.float32).transpose(1, 0, 2)  # (T, N, 2)
    flags = np.ones(positions.shape[:2], bool) if tracked is None else np.asarray(tracked, bool).T
    return Tracks(positions, flags)


R, U = (1, 0), (0, 1)  # unit steps right and down


def test_points_lost_in_the_reference_are_dropped_from_both_videos():
    # reference: r0 right, right; r1 down, down; r2 lost after frame 0 (held, so two zero steps)
    reference = _tracks([[R, R], [U, U], [(0, 0), (0, 0)]], tracked=[[1, 1, 1], [1, 1, 1], [1, 0, 0]])
    generated = _tracks([[R, U], [U, U], [U, R]])
    fidelity = MotionFidelity("klt")
    # kept points 0, 1: C = [[0.5, 0.5], [0, 1]]; chamfer (0.5 + 1 + 0.5 + 1) / 4; dmt rows max(C - I) = 0.5, 0
    dropped = fidelity.score_tracks(generated, reference)
    assert dropped.scores == pytest.approx({"chamfer": 75.0, "dmt": 25.0})
    assert (dropped.points, dropped.dropped) == (2, 1)
    # kept as a still point it would score: C = [[.5, .5, 0], [0, 1, 0], [.5, .5, 0]]
    kept = MotionFidelity("klt", drop_lost=False).score_tracks(generated, reference)
    assert kept.scores["chamfer"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert (kept.points, kept.dropped) == (3, 0)


def test_a_point_subset_restricts_the_score_and_an_empty_one_gives_none():
    reference = _tracks([[R, R], [U, U], [R, U]])
    generated = _tracks([[R, R], [R, R], [R, U]])
    fidelity = MotionFidelity("klt")
    only_first = fidelity.score_tracks(generated, reference, subset=np.array([True, False, False]))
    assert only_first.scores["chamfer"] == pytest.approx(100.0) and only_first.points == 1
    assert fidelity.score_tracks(generated, reference, subset=np.zeros(3, bool)) is None
    lost_everywhere = _tracks([[R, R]] * 3, tracked=[[1, 0, 0]] * 3)
    assert fidelity.score_tracks(generated, lost_everywhere) is None


class _LosesEverything:
    """A tracker that reports every point lost after frame 0."""

    name = "loses-everything"

    def track(self, video, grid_size, query_frame=0):
        positions = np.zeros((len(video), grid_size**2, 2), np.float32)
        tracked = np.zeros(positions.shape[:2], bool)
        tracked[0] = True
        return Tracks(positions, tracked)

    def config(self):
        return {"name": self.name}


def test_scoring_a_video_whose_every_point_is_lost_is_an_error():
    fidelity = MotionFidelity(_LosesEverything(), grid_size=3, eval_size=None)
    with pytest.raises(MetricError, match="lost all 9 query points in the reference video"):
        fidelity.score(sliding(1, 0, frames=3), sliding(1, 0, frames=3))


def test_kept_points_is_the_intersection_of_tracked_and_subset():
    tracks = _tracks([[R, R]] * 4, tracked=[[1, 1, 1], [1, 0, 1], [1, 1, 1], [1, 1, 0]])
    assert kept_points(tracks, True).tolist() == [0, 2]
    assert kept_points(tracks, False).tolist() == [0, 1, 2, 3]
    assert kept_points(tracks, True, np.array([0, 1, 1, 1], bool)).tolist() == [2]
