"""MotionFidelity on videos: resize, track, score, config and errors (KLT tracker)."""

import numpy as np
import pytest

from amg_bench.errors import MetricError
from amg_bench.metrics.motion_fidelity import MotionFidelity
from amg_bench.metrics.tracking import get_tracker, grid_points


def sliding(dx, dy, frames=6, size=64, seed=0):
    """A blocky random texture translating by (dx, dy) pixels per frame (wrapping around)."""
    texture = np.random.default_rng(seed).integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    texture = texture.repeat(4, 0).repeat(4, 1)
    return np.stack([np.roll(texture, (dy * t, dx * t), axis=(0, 1)) for t in range(frames)])


def test_same_motion_scores_high_and_reversed_motion_negative():
    fidelity = MotionFidelity("klt", grid_size=10, eval_size=(64, 64))
    reference = sliding(2, 1)
    same_motion_other_texture = sliding(2, 1, seed=1)
    assert fidelity.score(same_motion_other_texture, reference)["chamfer"] > 80
    reversed_scores = fidelity.score(reference[::-1].copy(), reference)
    assert reversed_scores["chamfer"] < 0 and reversed_scores["dmt"] < 0


def test_videos_are_resized_to_the_evaluation_size():
    fidelity = MotionFidelity("klt", grid_size=6, eval_size=(32, 48))
    tracks = fidelity.tracks(sliding(2, 0))
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
    assert set(fidelity.score_tracks(tracks, tracks)) == {"dmt"}
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
