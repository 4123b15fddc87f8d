"""Appearance palettes: measured on frames whose parts have known colours, occlusion, inheritance, flat."""

from __future__ import annotations

import numpy as np
import pytest

from amg_bench.data.appearance import (
    NUM_PARTS,
    check_palettes,
    complete_palette,
    erosion_radius,
    estimate_palette,
    face_parts,
    flat_palette,
    sample_frames,
    vertex_colors,
)
from amg_bench.data.body_model import load_body_model
from amg_bench.data.render import PERSON_COLORS, Camera, render_people, surface_map
from amg_bench.errors import BuildError

SIZE = 128


@pytest.fixture(scope="module")
def body():
    return load_body_model("mannequin")


def known_palette(seed: int) -> np.ndarray:
    """(24, 3) uint8: a distinct, well-lit colour per part (none near black, none saturating)."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (NUM_PARTS, 3)).astype(np.uint8)


def front_camera():
    extrinsics = np.diag([1.0, -1.0, -1.0, 1.0])  # looks at the mannequin's front (it faces +z) from z = 3.2 m
    extrinsics[2, 3] = 3.2
    f = 1.1 * SIZE
    return Camera(np.array([[f, 0, (SIZE - 1) / 2], [0, f, (SIZE - 1) / 2], [0, 0, 1]]), extrinsics, SIZE, SIZE)


def posed(body, yaw: float, shift: float, arms: float):
    """A mannequin turned by ``yaw`` about +y, ``shift`` m along x, arms lowered by ``arms`` rad."""
    pose = np.zeros((1, 69))
    pose[0, 3 * 15 + 2] = -arms  # left shoulder (joint 16) about z
    pose[0, 3 * 16 + 2] = arms  # right shoulder (joint 17)
    vertices, _ = body.forward(np.array([[0.0, yaw, 0.0]]), pose, np.zeros((1, 10)), np.array([[shift, 0.0, 0.0]]))
    return vertices[0]


def scene(body, palettes, poses):
    """Frames rendered with per-part colours (the "real" clip) and their surface maps."""
    camera = front_camera()
    colours = [vertex_colors(p, body.part_labels) for p in palettes]
    frames, surfaces = [], []
    for meshes in poses:
        frames.append(render_people(meshes, body.faces, camera, list(range(len(meshes))), vertex_colors=colours))
        surfaces.append(surface_map(meshes, body.faces, camera))
    return frames, surfaces


def test_palette_reproduces_a_clip_whose_parts_have_known_colours(body):
    truth = known_palette(0)
    poses = [[posed(body, yaw, 0.0, arms)] for yaw, arms in ((0.0, 0.3), (0.5, 1.0), (-0.6, 0.6), (2.8, 1.2))]
    frames, surfaces = scene(body, [truth], poses)
    palette = estimate_palette(frames, surfaces, [[0]] * 4, face_parts(body.faces, body.part_labels), 1)
    seen = palette.seen[0]
    assert seen.sum() >= 20  # most parts show in these views
    # a render is rint(255 c light): dividing by the light gives back the part's colour, to the rounding
    assert np.abs(palette.colors[0][seen].astype(int) - truth[seen]).max() <= 2
    # parts never seen take their nearest seen ancestor's colour
    for part in np.flatnonzero(~seen):
        from amg_bench.data.body_model import SMPL_PARENTS

        parent = SMPL_PARENTS[part]
        while not seen[parent]:
            parent = SMPL_PARENTS[parent]
        np.testing.assert_array_equal(palette.colors[0, part], palette.colors[0, parent])
    # the palette renders the clip back: the same frames as the known colours made
    again, _ = scene(body, [palette.colors[0]], poses)
    covered = surfaces[0].person >= 0
    assert np.abs(again[0][covered].astype(int) - frames[0][covered]).mean() < 1.0


def test_an_occluded_person_is_measured_only_where_it_shows(body):
    front, back = known_palette(1), known_palette(2)
    back[:] = (30, 60, 190)  # one colour all over, unlike any of the front person's
    near = posed(body, 0.0, -0.15, 0.3) + [0.0, 0.0, 0.6]  # in front, hiding most of the person behind
    far = posed(body, 0.0, 0.2, 0.3)
    frames, surfaces = scene(body, [front, back], [[near, far]])
    palette = estimate_palette(frames, surfaces, [[0, 1]], face_parts(body.faces, body.part_labels), 2)
    seen = palette.seen[1]
    assert seen.any() and not seen.all()
    assert np.abs(palette.colors[1][seen].astype(int) - back[seen]).max() <= 2  # no front colour leaks in


def test_every_person_gets_its_own_parts_in_a_two_person_frame(body):
    first, second = known_palette(3), known_palette(4)
    meshes = [posed(body, 0.3, -0.55, 1.0), posed(body, -0.3, 0.55, 1.0)]
    frames, surfaces = scene(body, [first, second], [meshes])
    # mesh order in the surface map is not the person order: the map names which person each mesh is
    palette = estimate_palette(frames, surfaces, [[1, 0]], face_parts(body.faces, body.part_labels), 2)
    for person, truth in ((1, first), (0, second)):
        seen = palette.seen[person]
        assert seen.sum() > 12
        assert np.abs(palette.colors[person][seen].astype(int) - truth[seen]).max() <= 2


def test_inheritance_falls_back_to_the_seen_median_then_to_the_flat_colour():
    colors = np.zeros((NUM_PARTS, 3))
    seen = np.zeros(NUM_PARTS, bool)
    colors[[4, 16]] = [[10.0, 20.0, 30.0], [50.0, 60.0, 70.0]]
    seen[[4, 16]] = True
    out = complete_palette(colors, seen, 0)
    np.testing.assert_array_equal(out[7], [10, 20, 30])  # left ankle <- left knee
    np.testing.assert_array_equal(out[20], [50, 60, 70])  # left wrist -> left elbow (unseen) -> left shoulder
    np.testing.assert_array_equal(out[0], [30, 40, 50])  # the root has no seen ancestor: the seen parts' median
    np.testing.assert_array_equal(out[5], [30, 40, 50])  # right knee -> right hip -> pelvis: none seen
    unseen = complete_palette(np.zeros((NUM_PARTS, 3)), np.zeros(NUM_PARTS, bool), 9)
    np.testing.assert_array_equal(unseen, np.repeat(PERSON_COLORS[1][None], NUM_PARTS, axis=0))


def test_flat_palette_and_sampling():
    flat = flat_palette([0, 9])
    assert flat.shape == (2, NUM_PARTS, 3) and flat.dtype == np.uint8
    np.testing.assert_array_equal(flat[1, 5], PERSON_COLORS[1])
    valid = np.zeros((2, 100), bool)
    valid[0, 10:90] = True  # 80 frames: 4 picks at round(j * 79 / 3) -> 10, 36, 63, 89
    valid[1, [3, 50]] = True  # fewer frames than picks: all of them
    assert sample_frames(valid, 4).tolist() == [3, 10, 36, 50, 63, 89]
    assert erosion_radius(256, 384) == 2 and erosion_radius(48, 64) == 1


def test_stored_palettes_are_checked():
    good = np.zeros((2, NUM_PARTS, 3)).tolist()
    assert check_palettes(good, 2, "row").shape == (2, NUM_PARTS, 3)
    with pytest.raises(BuildError, match=r"row: appearance_colors must be \(3, 24, 3\)"):
        check_palettes(good, 3, "row")
    with pytest.raises(BuildError, match="integers 0..255"):
        check_palettes(np.full((1, NUM_PARTS, 3), 300), 1, "row")


def test_the_silhouette_edge_is_not_measured(body):
    # real footage bleeds the background into a person's outline (blur, a fit a pixel off): paint
    # every silhouette pixel with a 4-neighbour outside it white, and the palette must not see it
    from scipy.ndimage import binary_erosion

    truth = known_palette(5)
    poses = [[posed(body, yaw, 0.0, arms)] for yaw, arms in ((0.0, 0.3), (0.5, 1.0), (-0.6, 0.6))]
    frames, surfaces = scene(body, [truth], poses)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    measured = np.zeros(NUM_PARTS, bool)  # parts with 3 pixels 1 px (8-neighbour) inside the outline in a frame
    parts = face_parts(body.faces, body.part_labels)
    for frame, surface in zip(frames, surfaces):
        silhouette = surface.person == 0
        frame[silhouette & ~binary_erosion(silhouette, cross)] = 255
        inside = binary_erosion(silhouette, np.ones((3, 3), bool))
        measured |= np.bincount(parts[surface.face[inside]], minlength=NUM_PARTS) >= 3
    palette = estimate_palette(frames, surfaces, [[0]] * 3, parts, 1, erode=1)
    assert measured.sum() >= 15
    assert np.abs(palette.colors[0][measured].astype(int) - truth[measured]).max() <= 2
