"""Camera paths: framing, orbit, zoom, dolly, files; checked against hand-computed geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amg_bench.data.cameras import (
    FILL,
    ZOOM_FACTOR,
    Framing,
    camera_centre,
    camera_frames,
    frame_people,
    load_extrinsics,
    look_at,
    parse_camera_path,
    start_distance,
)
from amg_bench.data.render import Camera
from amg_bench.errors import MotionError

SIZE = 64
K = np.array([[70.0, 0.0, (SIZE - 1) / 2], [0.0, 70.0, (SIZE - 1) / 2], [0.0, 0.0, 1.0]])
UP = np.array([0.0, 1.0, 0.0])
FRAMING = Framing(pivot=np.array([1.0, 0.5, -2.0]), radius=1.0, up=UP, toward=np.array([0.0, 0.0, 1.0]))


def frames(text, num=16, framing=FRAMING):
    return camera_frames(parse_camera_path(text), framing, K, SIZE, SIZE, num)


def yaw(extrinsics):
    """Heading of the camera's line of sight on the ground plane (radians, about +y)."""
    forward = extrinsics[2, :3]
    return math.atan2(forward[0], forward[2])


def test_start_distance_makes_the_sphere_span_the_fill_share():
    d = start_distance(FRAMING, K, SIZE, SIZE)
    # a sphere of radius r at distance d projects to a disc of radius f r / sqrt(d^2 - r^2) pixels
    projected = 70.0 * 1.0 / math.sqrt(d**2 - 1.0)
    assert projected == pytest.approx(FILL * SIZE / 2)
    wide = start_distance(FRAMING, K, SIZE, 2 * SIZE)  # the tighter axis (the height) decides
    assert wide == pytest.approx(d)


def test_look_at_puts_the_target_at_the_principal_point_and_up_at_the_top():
    eye, target = np.array([3.0, 2.0, 4.0]), np.array([0.5, 0.0, -1.0])
    extrinsics = look_at(eye, target, UP)
    np.testing.assert_allclose(extrinsics[:3, :3] @ extrinsics[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(extrinsics[:3, :3]) == pytest.approx(1.0)
    np.testing.assert_allclose(camera_centre(extrinsics), eye)
    camera = Camera(K, extrinsics, SIZE, SIZE)
    np.testing.assert_allclose(camera.project(target[None])[0], K[:2, 2], atol=1e-9)
    above = camera.project((target + UP)[None])[0]
    assert above[1] < K[1, 2]  # image y points down: a point above the target is higher in the image


def test_orbit_180_ends_opposite_and_keeps_the_people_centred():
    ext = frames("orbit:180")
    d0 = start_distance(FRAMING, K, SIZE, SIZE)
    eyes = np.stack([camera_centre(e) for e in ext])
    np.testing.assert_allclose(eyes[0], FRAMING.pivot + [0.0, 0.0, d0], atol=1e-9)
    np.testing.assert_allclose(eyes[-1], FRAMING.pivot - [0.0, 0.0, d0], atol=1e-9)  # the other side
    assert abs(abs(yaw(ext[-1]) - yaw(ext[0])) - math.pi) < 1e-9  # final yaw differs by 180 degrees
    np.testing.assert_allclose(np.linalg.norm(eyes - FRAMING.pivot, axis=1), d0)  # constant distance
    np.testing.assert_allclose(eyes[:, 1], FRAMING.pivot[1])  # constant height
    for e in ext:  # the people's centre stays at the image centre
        np.testing.assert_allclose(Camera(K, e, SIZE, SIZE).project(FRAMING.pivot[None])[0], K[:2, 2], atol=1e-9)
    steps = np.diff(np.unwrap([yaw(e) for e in ext]))
    np.testing.assert_allclose(steps, math.pi / 15)  # 180 degrees in 15 equal steps


def test_orbit_turns_counter_clockwise_seen_from_above():
    ext = frames("orbit:90", num=2)
    d0 = start_distance(FRAMING, K, SIZE, SIZE)
    # +z turned by +90 degrees about +y (right-handed) is +x
    np.testing.assert_allclose(camera_centre(ext[-1]), FRAMING.pivot + [d0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(frames("orbit:360")[-1], frames("orbit:360")[0], atol=1e-9)


def test_zoom_scales_the_projected_size_monotonically_to_the_zoom_factor():
    r = FRAMING.radius

    def projected(e):
        d = np.linalg.norm(camera_centre(e) - FRAMING.pivot)
        return 70.0 * r / math.sqrt(d**2 - r**2)

    zoom_in = [projected(e) for e in frames("zoom-in")]
    zoom_out = [projected(e) for e in frames("zoom-out")]
    assert np.all(np.diff(zoom_in) > 0) and np.all(np.diff(zoom_out) < 0)
    assert zoom_in[-1] / zoom_in[0] == pytest.approx(ZOOM_FACTOR)
    assert zoom_out[-1] / zoom_out[0] == pytest.approx(1 / ZOOM_FACTOR)
    np.testing.assert_allclose(np.diff(zoom_in), np.diff(zoom_in)[0])  # linear in the projected size
    for e in frames("zoom-in"):  # along the line of sight: the centre stays put in the image
        np.testing.assert_allclose(Camera(K, e, SIZE, SIZE).project(FRAMING.pivot[None])[0], K[:2, 2], atol=1e-9)


def test_dolly_travels_its_metres_along_the_first_line_of_sight():
    ext = frames("dolly:1.5")
    d0 = start_distance(FRAMING, K, SIZE, SIZE)
    np.testing.assert_allclose(camera_centre(ext[-1]), FRAMING.pivot + [0.0, 0.0, d0 - 1.5], atol=1e-9)
    np.testing.assert_allclose(ext[:, :3, :3], np.broadcast_to(ext[0, :3, :3], (16, 3, 3)))  # orientation kept
    np.testing.assert_allclose(camera_centre(frames("dolly:-2")[-1])[2], FRAMING.pivot[2] + d0 + 2.0)
    with pytest.raises(MotionError, match="would enter it"):
        frames(f"dolly:{d0}")


def test_static_is_the_first_camera_every_frame():
    ext = frames("static")
    np.testing.assert_array_equal(ext, np.broadcast_to(ext[0], ext.shape))
    np.testing.assert_allclose(ext[0], frames("orbit:90")[0])


def test_framing_of_points():
    points = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [np.nan, 0.0, 0.0]])
    framing = frame_people(points, [0.0, 2.0, 0.0], [0.0, 0.0, 5.0])
    np.testing.assert_allclose(framing.pivot, [1.0, 1.5, 0.5])  # the middle of the box
    assert framing.radius == pytest.approx(math.sqrt(1 + 1.5**2 + 0.5**2))
    np.testing.assert_allclose(framing.up, UP)
    np.testing.assert_allclose(framing.toward, [0.0, 0.0, 1.0])
    straight_down = frame_people(points, UP, UP)  # never looks along the up axis
    assert abs(straight_down.toward @ UP) < 0.99
    with pytest.raises(MotionError, match="no visible body"):
        frame_people(np.full((2, 3), np.nan), UP, UP)


def test_camera_files(tmp_path):
    ext = frames("orbit:30", num=4)
    np.save(tmp_path / "path.npy", ext)
    np.savez(tmp_path / "path.npz", extrinsics=ext, intrinsics=K)
    for name in ("path.npy", "path.npz"):
        np.testing.assert_allclose(frames(str(tmp_path / name), num=4), ext)
    with pytest.raises(MotionError, match=r"must hold \(5, 4, 4\)"):
        load_extrinsics(tmp_path / "path.npy", 5)
    sheared = ext.copy()
    sheared[:, 0, 1] += 0.3
    np.save(tmp_path / "bad.npy", sheared)
    with pytest.raises(MotionError, match="must be rotations"):
        load_extrinsics(tmp_path / "bad.npy", 4)
    np.savez(tmp_path / "other.npz", poses=np.zeros(3))
    with pytest.raises(MotionError, match="holds no 'extrinsics'"):
        load_extrinsics(tmp_path / "other.npz", 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("orbit", "not a camera path"),
        ("orbit:abc", "finite number of degrees"),
        ("dolly:inf", "finite number of metres"),
        ("spin:3", "not a camera path"),
        ("missing.npy", "does not exist"),
    ],
)
def test_bad_camera_paths_are_named(text, message):
    with pytest.raises(MotionError, match=message):
        parse_camera_path(text)


def test_slugs_name_files():
    assert [parse_camera_path(t).slug for t in ("orbit:180", "zoom-in", "dolly:-1.5")] == [
        "orbit-180",
        "zoom-in",
        "dolly--1.5",
    ]


def test_orbits_and_zooms_follow_walking_people_static_and_dolly_shots_do_not():
    # a 0.4 m "person" walking 2 m along x over 5 frames
    offsets = np.array([[0.0, -0.2, 0.0], [0.0, 0.2, 0.0], [0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]])
    centres = np.stack([np.linspace(0.0, 2.0, 5), np.zeros(5), np.zeros(5)], axis=1)
    points = centres[:, None] + offsets[None]
    points[2] = np.nan  # frame 2 shows nobody: it holds its neighbours' centre
    framing = frame_people(points, UP, [0.0, 0.0, 1.0])
    np.testing.assert_allclose(framing.pivot, [1.0, 0.0, 0.0])
    assert framing.radius == pytest.approx(math.sqrt(1.1**2))  # the box over the clip
    assert framing.spread == pytest.approx(0.2)  # one frame's people
    np.testing.assert_allclose(framing.centres[2], [1.0, 0.0, 0.0])
    for text in ("orbit:120", "zoom-in"):
        for t, e in enumerate(frames(text, num=5, framing=framing)):
            centre = framing.centres[t]
            np.testing.assert_allclose(Camera(K, e, SIZE, SIZE).project(centre[None])[0], K[:2, 2], atol=1e-9)
    d1 = start_distance(framing.tracked, K, SIZE, SIZE)
    np.testing.assert_allclose(np.linalg.norm(camera_centre(frames("orbit:120", 5, framing)[0]) - centres[0]), d1)
    for e in frames("static", 5, framing):
        np.testing.assert_allclose(Camera(K, e, SIZE, SIZE).project(framing.pivot[None])[0], K[:2, 2], atol=1e-9)
    d0 = start_distance(framing, K, SIZE, SIZE)
    assert d0 > d1  # the fixed rig frames the whole walk
