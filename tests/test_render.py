"""The numpy rasteriser: projection, coverage, z-buffer, colours, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from amg_bench.data import render
from amg_bench.data.body_model import mannequin_arrays
from amg_bench.data.render import PART_COLORS, PERSON_COLORS, Camera, person_bbox, render_people
from amg_bench.errors import MotionError

QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]])


def unit_camera(height=10, width=12):
    """K = identity, so a point at depth 1 lands on the pixel given by its (x, y)."""
    return Camera(np.eye(3), np.eye(4), height, width)


def quad(u0, v0, u1, v1, depth=1.0):
    """A rectangle at ``depth`` whose corners project to (u0, v0)-(u1, v1) under unit_camera."""
    return np.array([[u0, v0, 1.0], [u1, v0, 1.0], [u1, v1, 1.0], [u0, v1, 1.0]]) * depth


@pytest.fixture(scope="module")
def body():
    arrays = mannequin_arrays()
    labels = arrays["weights"].argmax(axis=1)
    return arrays["v_template"].astype(np.float64), arrays["f"], labels


def front_camera(size=96):
    """Looks at the T-posed mannequin's front from 4 m (the mannequin faces +z)."""
    extrinsics = np.diag([1.0, -1.0, -1.0, 1.0])  # camera y down = world -y, forward = world -z
    extrinsics[2, 3] = 4.0  # camera at world z = 4
    f = 1.2 * size
    return Camera(np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]]), extrinsics, size, size)


def test_project_known_points():
    extrinsics = np.eye(4)
    extrinsics[:3, 3] = [0.1, 0.0, 1.0]  # world origin is 1 m in front, 0.1 m right
    camera = Camera(np.array([[100.0, 0, 50], [0, 200.0, 40], [0, 0, 1]]), extrinsics, 80, 100)
    uv = camera.project(np.array([[0.0, -0.2, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, -2.0]]))
    np.testing.assert_allclose(uv[0], [50 + 100 * 0.1 / 2, 40 - 200 * 0.2 / 2])
    np.testing.assert_allclose(uv[1], [60.0, 40.0])
    assert np.isnan(uv[2]).all()  # behind the camera


def test_quad_covers_exactly_the_pixel_centres_inside():
    image = render_people([quad(1.5, 2.5, 6.5, 4.5)], QUAD_FACES, unit_camera(), [0])
    expected = np.zeros((10, 12), bool)
    expected[3:5, 2:7] = True  # rows 3-4, columns 2-6: pixel (i, j) is centred at (u, v) = (j, i)
    np.testing.assert_array_equal(image.any(axis=2), expected)


def test_triangle_edges_through_pixel_centres_are_covered():
    triangle = np.array([[0.0, 0.0, 1.0], [8.0, 0.0, 1.0], [0.0, 8.0, 1.0]])
    image = render_people([triangle], np.array([[0, 1, 2]]), unit_camera(), [0])
    rows, cols = np.mgrid[:10, :12]
    np.testing.assert_array_equal(image.any(axis=2), rows + cols <= 8)


def test_nearer_mesh_hides_farther_one_in_any_order():
    near, far = quad(1.5, 1.5, 5.5, 5.5, depth=2.0), quad(3.5, 3.5, 8.5, 8.5, depth=3.0)
    camera = unit_camera()
    both = render_people([far, near], QUAD_FACES, camera, [1, 0])
    swapped = render_people([near, far], QUAD_FACES, camera, [0, 1])
    np.testing.assert_array_equal(both, swapped)
    near_alone = render_people([near], QUAD_FACES, camera, [0])
    covered = near_alone.any(axis=2)
    np.testing.assert_array_equal(both[covered], near_alone[covered])
    assert (both[4, 7] > 0).any() and not (both[4, 7] == near_alone[4, 4]).all()  # far one shows beside


def test_each_person_gets_its_palette_colour_lit_by_lambert():
    camera = unit_camera()
    facing = quad(1.5, 1.5, 8.5, 8.5)
    colours = [render_people([facing], QUAD_FACES, camera, [k])[5, 5].astype(float) for k in range(3)]
    assert len({tuple(c) for c in colours}) == 3
    for k, colour in enumerate(colours):
        scale = colour.sum() / PERSON_COLORS[k].sum()
        assert 0.25 < scale <= 1.0
        np.testing.assert_allclose(colour, PERSON_COLORS[k] * scale, atol=1.0)
    away, towards = facing.copy(), facing.copy()
    away[[0, 3]] *= 3.0  # same pixels, left edge farther: turned away from the light (upper right)
    towards[[1, 2]] *= 3.0
    darker, brighter = (render_people([q], QUAD_FACES, camera, [0])[5, 5].sum() for q in (away, towards))
    assert darker < colours[0].sum() < brighter
    np.testing.assert_array_equal(colours[0], render_people([facing], QUAD_FACES, camera, [8])[5, 5])  # wraps


def test_parts_mode_paints_each_face_in_its_densepose_colour(body):
    image = render_people([quad(1.5, 1.5, 8.5, 8.5)], QUAD_FACES, unit_camera(), [0], "parts", np.array([5, 12]))
    # face 0 is the triangle above the diagonal (row < column), face 1 the one below
    assert tuple(image[2, 8]) == (64, 70, 136) and tuple(image[8, 2]) == (33, 144, 141)
    assert tuple(image[0, 0]) == tuple(image[9, 11]) == (68, 1, 84)  # viridis(0) background, not black
    assert {tuple(c) for c in image[2:9, 2:9].reshape(-1, 3)} == {(64, 70, 136), (33, 144, 141)}

    vertices, faces, _ = body
    parts = np.arange(len(faces)) % 24 + 1
    image = render_people([vertices], faces, front_camera(), [0], mode="parts", face_parts=parts)
    assert {tuple(c) for c in image.reshape(-1, 3)} <= {tuple(c) for c in PART_COLORS}


def test_rendering_is_byte_identical_and_empty_scenes_are_black(body):
    vertices, faces, _ = body
    camera = front_camera()
    first = render_people([vertices, vertices + [0.5, 0.0, -0.5]], faces, camera, [0, 1])
    second = render_people([vertices, vertices + [0.5, 0.0, -0.5]], faces, camera, [0, 1])
    assert first.dtype == np.uint8 and first.shape == (96, 96, 3)
    assert first.tobytes() == second.tobytes() and first.any()
    assert not render_people([], faces, camera, []).any()
    assert not render_people([vertices + [0.0, 0.0, 10.0]], faces, camera, [0]).any()  # behind the camera
    assert not render_people([vertices + [30.0, 0.0, 0.0]], faces, camera, [0]).any()  # off to the side


def test_triangles_reaching_behind_the_near_plane_are_dropped():
    straddling = np.array([[1.0, 1.0, 1.0], [8.0, 1.0, 1.0], [1.0, 8.0, -1.0]])
    assert not render_people([straddling], np.array([[0, 1, 2]]), unit_camera(), [0]).any()


def test_chunked_zbuffer_matches_one_pass(body, monkeypatch):
    vertices, faces, _ = body
    camera = front_camera()
    whole = render_people([vertices], faces, camera, [0])
    monkeypatch.setattr(render, "_MAX_PAIRS", 50)
    np.testing.assert_array_equal(render_people([vertices], faces, camera, [0]), whole)


def test_person_bbox():
    camera = unit_camera()
    assert person_bbox(quad(1.5, 2.5, 6.5, 4.5), camera) == (1.5, 2.5, 6.5, 4.5)
    assert person_bbox(quad(-3.0, 2.0, 20.0, 4.0), camera) == (0.0, 2.0, 11.0, 4.0)  # clipped
    assert person_bbox(quad(30.0, 2.0, 40.0, 4.0), camera) is None
    assert person_bbox(quad(1.0, 1.0, 2.0, 2.0, depth=-1.0), camera) is None


def test_bad_inputs_raise():
    camera = unit_camera()
    with pytest.raises(ValueError, match="mode"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES, camera, [0], mode="wire")
    with pytest.raises(MotionError, match="face_parts"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES, camera, [0], mode="parts")
    with pytest.raises(MotionError, match=r"1\.\.24"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES, camera, [0], "parts", np.array([0, 3]))
    with pytest.raises(MotionError, match="one per face"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES, camera, [0], "parts", np.array([3]))
    with pytest.raises(MotionError, match="person_indices"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES, camera, [0, 1])
    with pytest.raises(MotionError, match="faces"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES + 2, camera, [0])
    with pytest.raises(MotionError, match="intrinsics"):
        Camera(np.eye(4), np.eye(4), 10, 10)
    with pytest.raises(MotionError, match="width"):
        Camera(np.eye(3), np.eye(4), 10, 0)


def test_vertex_colours_and_background_for_the_demo_frames():
    camera = unit_camera()
    backdrop = np.full((10, 12, 3), 77, dtype=np.uint8)
    red_left = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 0, 1.0], [1.0, 0, 0]])  # red left edge, blue right
    image = render_people([quad(1.5, 1.5, 8.5, 8.5)], QUAD_FACES, camera, [0], vertex_colors=[red_left],
                          background=backdrop)  # fmt: skip
    assert (image[0, 0] == 77).all() and (image[9, 11] == 77).all()  # background kept outside
    left, right = image[5, 2].astype(int), image[5, 8].astype(int)
    assert left[0] > left[2] and right[2] > right[0] and left[1] == right[1] == 0  # interpolated, lit
    np.testing.assert_array_equal(render_people([], QUAD_FACES, camera, [], background=backdrop), backdrop)
    with pytest.raises(ValueError, match="vertex_colors"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES, camera, [0], "parts", np.ones(2, int), [red_left])
    with pytest.raises(MotionError, match="background"):
        render_people([quad(1, 1, 2, 2)], QUAD_FACES, camera, [0], background=backdrop[:5])
