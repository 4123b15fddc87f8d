"""Trackers: the shared grid, KLT on a known translation, CoTracker through a local torch.hub dir."""

import hashlib
import textwrap

import cv2
import numpy as np
import pytest
import torch

from amg_bench.errors import MissingWeightsError, TrackerError, VideoError
from amg_bench.metrics.motion_fidelity import MotionFidelity
from amg_bench.metrics.trackers.cotracker import ENV_CHECKPOINT, ENV_DIR, CoTrackerTracker
from amg_bench.metrics.tracking import get_tracker, grid_points


def test_grid_points_follow_cotracker_placement():
    # CoTracker: margin 512/64 = 8 in its 384x512 frame, linspace, then x*(W-1)/511, y*(H-1)/383
    points = grid_points(256, 320, 55).reshape(55, 55, 2)
    step_x, step_y = (512 - 16) / 54, (384 - 16) / 54
    np.testing.assert_allclose(points[0, 0], [8 * 319 / 511, 8 * 255 / 383], rtol=1e-6)
    np.testing.assert_allclose(points[0, 1, 0], (8 + step_x) * 319 / 511, rtol=1e-6)
    np.testing.assert_allclose(points[1, 0, 1], (8 + step_y) * 255 / 383, rtol=1e-6)
    np.testing.assert_allclose(points[-1, -1], [504 * 319 / 511, 376 * 255 / 383], rtol=1e-6)
    assert points.dtype == np.float32
    np.testing.assert_allclose(grid_points(100, 200, 1), [[256 * 199 / 511, 192 * 99 / 383]], rtol=1e-6)


def textured_translation(dx, dy, frames=8, height=96, width=128, seed=0):
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (400, 400, 3)).astype(np.float32), (0, 0), 2.0)
    texture = np.clip((texture - texture.mean()) * 4 + 128, 0, 255).astype(np.uint8)
    video = [
        cv2.warpAffine(
            texture, np.float32([[1, 0, dx * t - 60], [0, 1, dy * t - 60]]), (width, height), flags=cv2.INTER_LINEAR
        )
        for t in range(frames)
    ]
    return np.stack(video)


def test_klt_recovers_a_known_translation_within_half_a_pixel():
    dx, dy, frames = 1.7, -1.2, 8
    video = textured_translation(dx, dy, frames)
    result = get_tracker("klt").track(video, grid_size=55)
    tracks = result.positions
    assert tracks.shape == (frames, 55 * 55, 2) and tracks.dtype == np.float32
    assert result.tracked.shape == (frames, 55 * 55) and result.tracked.dtype == bool
    np.testing.assert_array_equal(tracks[0], grid_points(96, 128, 55))
    expected = tracks[0] + np.arange(frames)[:, None, None] * np.array([dx, dy], dtype=np.float32)
    # points whose whole path stays 12 px inside the frame (the others leave it)
    low, high = np.minimum(expected[0], expected[-1]), np.maximum(expected[0], expected[-1])
    inside = (low.min(axis=1) >= 12) & (high[:, 0] <= 128 - 13) & (high[:, 1] <= 96 - 13)
    assert inside.sum() > 1000
    assert np.abs(tracks[:, inside] - expected[:, inside]).max() < 0.5
    assert not result.lost[inside].any()  # points that stay in view are never lost
    leaving = (expected[-1, :, 0] > 127 + 1) | (expected[-1, :, 1] < -1)  # out of the frame on the right / top
    assert leaving.sum() > 300 and result.lost[leaving].all()


def test_klt_reports_a_point_lost_from_the_frame_it_leaves_the_image_and_holds_it():
    video = textured_translation(3.0, 0.0, frames=6)  # 3 px/frame to the right: the right columns leave
    result = get_tracker("klt").track(video, grid_size=6)
    x0 = result.positions[0, :, 0]
    for point in np.flatnonzero(result.lost):
        first = int(np.argmin(result.tracked[:, point]))  # the first frame it is not tracked
        assert not result.tracked[first:, point].any() and result.tracked[:first, point].all()
        assert x0[point] + 3.0 * first > 127 - 1  # lost where it would be out of the frame
        held = np.broadcast_to(result.positions[first - 1, point], (6 - first, 2))
        np.testing.assert_array_equal(result.positions[first:, point], held)
    assert result.lost[x0 > 115].all() and not result.lost[x0 < 100].any()


def test_klt_sees_no_motion_between_identical_frames():
    video = textured_translation(1.0, 0.5, frames=6)
    video[3] = video[2]  # a held frame: bit-identical to the one before
    result = get_tracker("klt").track(video, grid_size=8)
    steps = np.diff(result.positions, axis=0)
    assert (steps[2] == 0).all()  # exactly zero, not the solver's round-off
    assert np.abs(steps[3]).max() > 0.5


def test_klt_query_frame_and_flat_video():
    video = textured_translation(1.0, 0.0, frames=5)
    tracks = get_tracker("klt").track(video, grid_size=5, query_frame=2).positions
    np.testing.assert_array_equal(tracks[:3], np.broadcast_to(grid_points(96, 128, 5), (3, 25, 2)))
    np.testing.assert_allclose(tracks[4, 12] - tracks[2, 12], [2.0, 0.0], atol=0.2)
    flat = np.full((4, 32, 32, 3), 90, dtype=np.uint8)
    flat_tracks = get_tracker("klt").track(flat, grid_size=4)
    assert np.isfinite(flat_tracks.positions).all()
    np.testing.assert_array_equal(flat_tracks.positions, np.broadcast_to(flat_tracks.positions[0], (4, 16, 2)))


def test_tracker_errors():
    klt = get_tracker("klt")
    assert klt.config()["approximation"] is True and klt.config()["name"] == "klt"
    with pytest.raises(TrackerError, match="did you mean 'klt'"):
        get_tracker("kltt")
    with pytest.raises(TrackerError, match="bad options for tracker 'klt'"):
        get_tracker("klt", model="x")
    video = np.zeros((3, 16, 16, 3), np.uint8)
    with pytest.raises(TrackerError, match=r"query_frame must be in \[0, 3\), got 3"):
        klt.track(video, 4, query_frame=3)
    with pytest.raises(TrackerError, match="grid_size must be a positive integer, got 0"):
        klt.track(video, 0)
    with pytest.raises(VideoError, match="video must be uint8"):
        klt.track(video.astype(np.float32), 4)


HUBCONF = textwrap.dedent(
    '''
    """A tiny stand-in for facebookresearch/co-tracker's hubconf: same entry and call signature."""
    import torch

    dependencies = ["torch"]
    MODEL_H, MODEL_W = 384, 512


    class TinyModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.velocity = torch.nn.Parameter(torch.zeros(2))  # model pixels per frame


    class TinyPredictor(torch.nn.Module):
        def __init__(self, rescale=True):
            super().__init__()
            self.model = TinyModel()
            self.rescale = rescale
            self.calls = []

        def forward(self, video, queries=None, segm_mask=None, grid_size=0, grid_query_frame=0,
                    backward_tracking=False):
            self.calls.append(dict(shape=tuple(video.shape), dtype=video.dtype, max=float(video.max()),
                                   grid_size=grid_size, grid_query_frame=grid_query_frame,
                                   backward_tracking=backward_tracking))
            B, T, _, H, W = video.shape
            margin = MODEL_W / 64
            gy, gx = torch.meshgrid(torch.linspace(margin, MODEL_H - margin, grid_size),
                                    torch.linspace(margin, MODEL_W - margin, grid_size), indexing="ij")
            grid = torch.stack([gx, gy], -1).reshape(-1, 2)
            steps = torch.arange(T, dtype=torch.float32) - grid_query_frame
            tracks = grid[None] + steps[:, None, None] * self.model.velocity
            if self.rescale:
                tracks = tracks * torch.tensor([(W - 1) / (MODEL_W - 1), (H - 1) / (MODEL_H - 1)])
            visible = torch.ones(B, T, grid_size ** 2, dtype=torch.bool)
            visible[:, T // 2 :, 0] = False  # the first point is occluded in the second half
            return tracks[None].repeat(B, 1, 1, 1), visible


    def cotracker3_offline(*, pretrained=True, **kwargs):
        predictor = TinyPredictor()
        if pretrained:
            url = "file:///nonexistent-amg-bench-test/tiny_cotracker.pth"
            predictor.model.load_state_dict(torch.hub.load_state_dict_from_url(url, map_location="cpu"))
        return predictor


    def unscaled(*, pretrained=True, **kwargs):
        return TinyPredictor(rescale=False)
    '''
)
VELOCITY = (5.11, -3.83)


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.delenv(ENV_CHECKPOINT, raising=False)
    repo = tmp_path / "co-tracker"
    repo.mkdir()
    (repo / "hubconf.py").write_text(HUBCONF)
    checkpoint = tmp_path / "tiny_cotracker.pth"
    torch.save({"velocity": torch.tensor(VELOCITY)}, checkpoint)
    return repo, checkpoint


def ramp_video(frames=5, height=48, width=64):
    return np.broadcast_to(
        np.linspace(0, 255, width).astype(np.uint8)[None, None, :, None], (frames, height, width, 3)
    ).copy()


def test_cotracker_local_hub_with_checkpoint(hub):
    repo, checkpoint = hub
    tracker = CoTrackerTracker(repo=repo, checkpoint=checkpoint)
    video = ramp_video()
    result = tracker.track(video, grid_size=4)
    tracks = result.positions
    call = tracker._predictor.calls[-1]
    assert call == dict(
        shape=(1, 5, 3, 48, 64),
        dtype=torch.float32,
        max=255.0,
        grid_size=4,
        grid_query_frame=0,
        backward_tracking=False,
    )
    assert tracks.shape == (5, 16, 2) and tracks.dtype == np.float32
    np.testing.assert_allclose(tracks[0], grid_points(48, 64, 4), atol=1e-4)
    per_frame = np.array(VELOCITY) * [63 / 511, 47 / 383]  # the checkpoint's motion, in video pixels
    np.testing.assert_allclose(tracks[3] - tracks[0], np.broadcast_to(3 * per_frame, (16, 2)), atol=1e-4)
    assert result.tracked[:2].all() and not result.tracked[2:, 0].any() and result.tracked[:, 1:].all()
    assert result.lost.tolist() == [True] + [False] * 15  # its visibility is what "tracked" means
    config = tracker.config()
    assert config["source"] == "local" and config["checkpoint"] == str(checkpoint)
    assert config["model"] == "cotracker3_offline" and config["approximation"] is False
    assert config["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


def test_cotracker_from_environment_and_query_frame(hub, monkeypatch):
    repo, checkpoint = hub
    monkeypatch.setenv(ENV_DIR, str(repo))
    monkeypatch.setenv(ENV_CHECKPOINT, str(checkpoint))
    fidelity = MotionFidelity("cotracker", grid_size=3, eval_size=(40, 56))
    assert fidelity.config()["tracker"]["repo"] == str(repo)
    tracks = fidelity.tracks(ramp_video(frames=4, height=80, width=112)).positions  # resized to 40x56 first
    np.testing.assert_allclose(tracks[0], grid_points(40, 56, 3), atol=1e-4)
    tracks = fidelity.tracker.track(ramp_video(frames=4), grid_size=3, query_frame=2).positions
    np.testing.assert_allclose(tracks[2], grid_points(48, 64, 3), atol=1e-4)
    assert fidelity.tracker._predictor.calls[-1]["grid_query_frame"] == 2


def test_cotracker_missing_weights_says_how_to_get_them(hub):
    repo, _ = hub
    with pytest.raises(MissingWeightsError) as info:
        CoTrackerTracker(repo=repo)  # pretrained=True: the entry downloads, and cannot
    message = str(info.value)
    assert "https://huggingface.co/facebook/cotracker3/resolve/main/scaled_offline.pth" in message
    assert ENV_CHECKPOINT in message and "checkpoints" in message
    with pytest.raises(MissingWeightsError, match="checkpoint .*nope.pth does not exist"):
        CoTrackerTracker(repo=repo, checkpoint=repo / "nope.pth")


def test_cotracker_rejects_tracks_outside_video_pixels(hub):
    repo, _ = hub
    tracker = CoTrackerTracker(model="unscaled", repo=repo, checkpoint=None, source="local")
    with pytest.raises(TrackerError, match="not in the video's pixel coordinates"):
        tracker.track(ramp_video(), grid_size=4)


def test_cotracker_refuses_bad_sources(tmp_path):
    with pytest.raises(TrackerError, match="has no hubconf.py"):
        CoTrackerTracker(repo=tmp_path, source="local")
    with pytest.raises(TrackerError, match="only facebookresearch/co-tracker is loaded from GitHub"):
        CoTrackerTracker(repo="someone/co-tracker-fork")
    with pytest.raises(TrackerError, match="source must be 'github' or 'local'"):
        CoTrackerTracker(repo=tmp_path, source="ftp")


def test_a_folder_named_like_the_default_repo_never_runs(tmp_path, monkeypatch):
    # the default "facebookresearch/co-tracker" is also a relative path: a folder of that name must not be loaded
    marker = tmp_path / "ran"
    trap = tmp_path / "facebookresearch" / "co-tracker"
    trap.mkdir(parents=True)
    (trap / "hubconf.py").write_text(f"open({str(marker)!r}, 'w').write('code ran')\ndependencies = []\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(ENV_DIR, raising=False)
    with pytest.raises((MissingWeightsError, TrackerError)):
        CoTrackerTracker()  # the GitHub repository, which is not reachable here
    assert not marker.exists()
