"""Person regions re-rendered from a row: visible pixels only, any output size, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from amg_bench.data.body_model import load_body_model
from amg_bench.data.person_regions import (
    PersonRegions,
    PersonRegionSource,
    person_regions,
    projected_keypoints,
    scaled_intrinsics,
)
from amg_bench.data.render import Camera, person_id_map
from amg_bench.errors import DatasetError

FRAMES, SIZE = 2, 64


@pytest.fixture(scope="module")
def body():
    return load_body_model("mannequin")


def _person(x: float, z: float) -> dict:
    return {"global_orient": [[np.pi, 0.0, 0.0]] * FRAMES, "body_pose": [[0.0] * 69] * FRAMES, "betas": [0.0] * 10,
            "transl": [[x, 0.0, z]] * FRAMES}  # fmt: skip


def _row(people: list[dict], size: int = SIZE) -> dict:
    k = [[size, 0.0, size / 2 - 0.5], [0.0, size, size / 2 - 0.5], [0.0, 0.0, 1.0]]
    return {
        "clip_id": "c",
        "num_frames": FRAMES,
        "body_model": "mannequin",
        "smpl": people,
        "camera": {"intrinsics": k, "extrinsics": [np.eye(4).tolist()] * FRAMES, "height": size, "width": size},
    }


def test_a_person_behind_another_keeps_only_the_pixels_it_shows(body):
    alone = person_regions(_row([_person(0.0, 4.0)]), body, SIZE, SIZE)
    both = person_regions(_row([_person(0.0, 4.0), _person(0.0, 2.5)]), body, SIZE, SIZE)
    back, front = both.masks[0, 0], both.masks[1, 0]
    assert not (back & front).any()  # a pixel belongs to one person
    hidden = alone.masks[0, 0] & front
    assert hidden.sum() > 50 and not (back & hidden).any()  # the hidden part is gone from the back person
    np.testing.assert_array_equal(back | hidden, alone.masks[0, 0])
    np.testing.assert_array_equal(both.union(0), back | front)
    assert both.areas()[0, 0] == back.sum() < alone.areas()[0, 0]


def test_boxes_are_the_bounds_of_the_visible_pixels():
    masks = np.zeros((2, 1, 8, 10), bool)
    masks[0, 0, 2:5, 3:7] = True  # rows 2-4, columns 3-6
    regions = PersonRegions(masks)
    np.testing.assert_array_equal(regions.boxes()[0, 0], [3, 2, 6, 4])
    assert np.isnan(regions.boxes()[1, 0]).all()  # not visible: no box
    back = PersonRegions.from_arrays(regions.to_arrays())
    np.testing.assert_array_equal(back.masks, masks)


def test_rendering_at_another_size_rescales_the_camera(body):
    row = _row([_person(0.0, 2.5)])
    small = person_regions(row, body, SIZE, SIZE).masks[0, 0]
    large = person_regions(row, body, 2 * SIZE, 2 * SIZE).masks[0, 0]
    downsized = large.reshape(SIZE, 2, SIZE, 2).mean(axis=(1, 3)) > 0.5
    assert (downsized != small).mean() < 0.02  # the same silhouette, up to its edge pixels
    k = scaled_intrinsics(np.array([[100.0, 0, 49.5], [0, 100.0, 29.5], [0, 0, 1]]), (60, 100), (120, 200))
    np.testing.assert_allclose(k, [[200.0, 0, 99.5], [0, 200.0, 59.5], [0, 0, 1]])  # pixel centres stay centres


def test_person_id_map_matches_the_rendered_people(body):
    vertices, _ = body.forward(np.array([[np.pi, 0, 0]] * 2), np.zeros((2, 69)), np.zeros((2, 10)),
                               np.array([[-0.4, 0, 3.0], [0.4, 0, 3.0]]))  # fmt: skip
    camera = Camera(np.array([[64.0, 0, 31.5], [0, 64.0, 31.5], [0, 0, 1]]), np.eye(4), SIZE, SIZE)
    ids = person_id_map(list(vertices), body.faces, camera)
    assert set(np.unique(ids)) == {-1, 0, 1}
    assert np.median(np.nonzero(ids == 0)[1]) < np.median(np.nonzero(ids == 1)[1])  # person 0 on the left


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda row: row.pop("smpl"), "column 'smpl' is missing"),
        (
            lambda row: row["camera"].update(extrinsics=[np.eye(4).tolist()]),
            r"camera.extrinsics must be finite with shape \(2, 4, 4\)",
        ),
        (lambda row: row["smpl"][0].update(transl=[[0.0, 0.0]] * FRAMES), r"smpl\[0\].transl must be finite"),
        (lambda row: row.update(body_model="smpl"), "made with the 'smpl' body model"),
    ],
)
def test_bad_rows_are_named(body, edit, message):
    row = _row([_person(0.0, 2.5)])
    edit(row)
    with pytest.raises(DatasetError, match=message):
        person_regions(row, body, SIZE, SIZE)


def test_regions_are_cached_by_content(body, tmp_path):
    source = PersonRegionSource(body, tmp_path)
    row = _row([_person(0.0, 2.5)])
    first = source.regions(row, SIZE, SIZE)
    again = source.regions(_row([_person(0.0, 2.5)]), SIZE, SIZE)
    moved = source.regions(_row([_person(0.3, 2.5)]), SIZE, SIZE)
    assert source.cache.stats() == {"hits": 1, "misses": 2}
    np.testing.assert_array_equal(first.masks, again.masks)
    assert not np.array_equal(first.masks, moved.masks)


def test_projected_keypoints_are_the_pinhole_image_of_the_shared_limb_joints(body):
    row = _row([_person(0.2, 2.5)])
    behind = np.eye(4)
    behind[2, 3] = -4.0  # the camera moved 4 m forward: the person is behind it
    row["camera"]["extrinsics"][1] = behind.tolist()
    _, joints = body.forward(
        np.array([[np.pi, 0, 0]]), np.zeros((1, 69)), np.zeros((1, 10)), np.array([[0.2, 0.0, 2.5]])
    )
    projected = projected_keypoints(row, body, 64, 64)
    assert projected["xy"].shape == (1, 2, 17, 2)
    # COCO left shoulder .. right ankle are SMPL joints 16 17 18 19 20 21 1 2 4 5 7 8
    smpl = [16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8]
    x, y, z = joints[0, smpl].T.astype(np.float64)
    expected = np.stack([64 * x / z + 31.5, 64 * y / z + 31.5], axis=1)
    np.testing.assert_allclose(projected["xy"][0, 0, 5:], expected, atol=1e-3)
    assert projected["score"][0, 0].tolist() == [0.0] * 5 + [1.0] * 12  # the face keypoints are never targets
    assert not projected["score"][0, 1].any()  # nothing behind the camera is a target
