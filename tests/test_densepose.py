"""DensePose's fine-segmentation convention: colours, the SMPL correspondence file, the mannequin mapping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from amg_bench.data import densepose
from amg_bench.data.body_model import load_body_model, mannequin_arrays
from amg_bench.data.densepose import PALETTE, body_face_parts, parts_from_joints
from amg_bench.data.render import Camera, render_people
from amg_bench.errors import BodyModelError


def front_camera(size=128):
    """Looks at the T-posed body's front from 4 m (SMPL faces +z, its left is +x)."""
    extrinsics = np.diag([1.0, -1.0, -1.0, 1.0])
    extrinsics[2, 3] = 4.0
    f = 1.2 * size
    return Camera(np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]]), extrinsics, size, size)


def rest_vertices(body):
    zeros = np.zeros((1, 3), np.float32)
    vertices, _ = body.forward(zeros, np.zeros((1, 69), np.float32), np.zeros((1, 10), np.float32), zeros)
    return vertices[0]


@pytest.fixture(scope="module")
def mannequin(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("AMG_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    return load_body_model("mannequin")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def smpl_body(tmp_path_factory):
    """A body of kind "smpl": the mannequin's arrays in an SMPL file (the same code path as real SMPL)."""
    path = tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.npz"
    np.savez(path, **mannequin_arrays())
    return load_body_model(path)


def test_palette_is_opencv_viridis_at_the_release_scale():
    cv2 = pytest.importorskip("cv2")
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_VIRIDIS)[:, 0, ::-1]  # BGR -> RGB
    scaled = np.floor(np.arange(25) * 255.0 / 24).astype(int)  # detectron2: I * 255/24, truncated to uint8
    assert scaled.tolist()[:4] == [0, 10, 21, 31] and scaled[-1] == 255
    np.testing.assert_array_equal(PALETTE, lut[scaled])
    assert tuple(PALETTE[0]) == (68, 1, 84)  # the background is the colour of 0, not black


def test_joint_mapping_by_hand():
    joints = np.array([0, 9, 13, 12, 15, 15, 1, 2, 1, 4, 5, 7, 11, 16, 17, 17, 18, 19, 21, 22])
    forward = np.array([1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 1, 0, 0], bool)
    left = np.array([0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1], bool)
    expected = [2, 1, 2, 23, 24, 23, 10, 9, 8, 14, 11, 5, 6, 15, 16, 18, 21, 20, 3, 4]
    assert parts_from_joints(joints, forward, left).tolist() == expected
    with pytest.raises(BodyModelError, match=r"\[24\]"):
        parts_from_joints(np.array([24]), np.array([True]), np.array([True]))


def test_mannequin_render_from_the_front(mannequin):
    parts = body_face_parts(mannequin)
    assert parts.labels.shape == (len(mannequin.faces),) and "skinning joint" in parts.source
    image = render_people([rest_vertices(mannequin)], mannequin.faces, front_camera(), [0], "parts", parts.labels)
    index = np.full(image.shape[:2], -1)
    for i, colour in enumerate(PALETTE):
        index[(image == colour).all(axis=-1)] = i
    assert (index >= 0).all()  # nothing but palette colours
    counts = np.bincount(index.ravel(), minlength=25)
    assert counts[2] > 20 * counts[1] and counts[9] > 5 * counts[7] and counts[13] > 5 * counts[11]  # fronts face us
    columns = np.mgrid[: image.shape[0], : image.shape[1]][1]

    def centre(part):
        return columns[index == part].mean()

    # the body's left (+x) is on the image's right for a camera facing the body
    for left, right in ((4, 3), (24, 23), (10, 9), (15, 16), (5, 6)):
        assert centre(left) > image.shape[1] / 2 > centre(right), (left, right)


def test_mannequin_hands_and_feet_follow_their_joints(mannequin):
    labels = body_face_parts(mannequin).labels
    face_joint = densepose.face_joints_from_vertices(mannequin.faces, mannequin.part_labels)
    assert set(labels[face_joint == 22].tolist()) == {4} and set(labels[face_joint == 23].tolist()) == {3}
    assert set(labels[face_joint == 10].tolist()) == {5} and set(labels[face_joint == 15].tolist()) == {23, 24}


def write_uv_file(path, body, drop_face=None):
    """A correspondence in DensePose's UV_Processed.mat layout for ``body``'s mesh.

    DensePose's vertices are the body's plus one duplicate per vertex of the first 50 faces
    (seams), its faces reference the duplicates there, every other face is wound the other way,
    and the parts are a known function of the face index.
    """
    faces = body.faces.copy()
    n = body.num_vertices
    duplicated = np.unique(faces[:50])
    to_body = np.concatenate([np.arange(n), duplicated])  # DensePose vertex -> body vertex
    dp_faces = faces.copy()
    remap = {int(v): n + k for k, v in enumerate(duplicated)}
    dp_faces[:50] = np.vectorize(remap.get)(faces[:50])
    dp_faces[1::2] = dp_faces[1::2, ::-1]
    parts = np.arange(len(faces)) % 24 + 1
    keep = np.ones(len(faces), bool)
    if drop_face is not None:
        keep[drop_face] = False
    savemat(
        str(path),
        {
            "All_FaceIndices": parts[keep].astype(np.uint8)[:, None],
            "All_Faces": (dp_faces[keep] + 1).astype(np.float64),
            "All_vertices": (to_body + 1).astype(np.uint32)[None],
            "All_U_norm": np.zeros((len(to_body), 1)),
            "All_V_norm": np.zeros((len(to_body), 1)),
        },
    )
    return parts


def test_smpl_takes_each_face_part_from_the_densepose_file(smpl_body, tmp_path):
    assert smpl_body.kind == "smpl"
    expected = write_uv_file(tmp_path / "UV_Processed.mat", smpl_body, drop_face=7)
    parts = body_face_parts(smpl_body, tmp_path / "UV_Processed.mat")
    assert "DensePose's SMPL correspondence" in parts.source
    keep = np.arange(len(expected)) != 7
    np.testing.assert_array_equal(parts.labels[keep], expected[keep])
    # the face the file lacks takes the part most DensePose faces around its corners have
    corners = smpl_body.faces[7]
    around = [expected[f] for f in range(len(expected)) if f != 7 and np.isin(smpl_body.faces[f], corners).any()]
    votes = np.zeros(25, int)
    for f in range(len(expected)):
        if f != 7:
            for v in smpl_body.faces[f]:
                if v in corners:
                    votes[expected[f]] += 1
    assert around and parts.labels[7] == votes[1:].argmax() + 1


def test_smpl_without_the_file_names_the_download(smpl_body, tmp_path, monkeypatch):
    monkeypatch.delenv(densepose.UV_ENV, raising=False)
    with pytest.raises(BodyModelError) as caught:
        body_face_parts(smpl_body)
    message = str(caught.value)
    assert (
        densepose.DENSEPOSE_UV_URL in message and "AMG_BENCH_DENSEPOSE_UV" in message and "UV_Processed.mat" in message
    )
    monkeypatch.setenv(densepose.UV_ENV, str(tmp_path / "nowhere.mat"))
    with pytest.raises(BodyModelError, match=r"nowhere\.mat does not exist.*densepose_uv_data"):
        body_face_parts(smpl_body)


def test_a_file_for_another_mesh_is_refused(smpl_body, tmp_path):
    path = tmp_path / "other.mat"
    for vertices, error in (([1, 501, 1001], "no face of this body model"), ([1, 2, 6000], "beyond")):
        savemat(str(path), {"All_FaceIndices": np.array([[1]]), "All_Faces": np.array([[1, 2, 3]]),
                            "All_vertices": np.array([vertices])})  # fmt: skip
        with pytest.raises(BodyModelError, match=error):
            body_face_parts(smpl_body, path)
    savemat(str(path), {"All_Faces": np.array([[1, 2, 3]])})
    with pytest.raises(BodyModelError, match="lacks"):
        body_face_parts(smpl_body, path)
    path.write_bytes(b"not a mat file")
    with pytest.raises(BodyModelError, match="not a readable"):
        body_face_parts(smpl_body, path)
