"""The mannequin body model and SMPL / SMPL-X loading through smplx."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from amg_bench.data import body_model as bm
from amg_bench.errors import BodyModelError, MotionError

# The standard SMPL kinematic tree, written out independently of the module under test.
SMPL_PARENT_TABLE = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
LEFT_ELBOW, LEFT_FOREARM_AND_HAND, RIGHT_LEG = 18, [18, 20, 22], [2, 5, 8, 11]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        directory = tmp_path_factory.mktemp("cache")
        patch.setenv("AMG_BENCH_CACHE", str(directory))
        yield directory


@pytest.fixture(scope="module")
def mannequin(cache):
    return bm.load_body_model("mannequin")


@pytest.fixture(scope="module")
def arrays():
    return bm.mannequin_arrays()


def zeros(n=1):
    return np.zeros((n, 3)), np.zeros((n, 69)), np.zeros((n, 10)), np.zeros((n, 3))


def test_generated_file_is_cached_plain_npz_that_smplx_runs(cache):
    import smplx
    import torch
    from smplx.utils import Struct

    path = bm.mannequin_path()
    assert path.parent.parent == cache and path.suffix == ".npz"
    stamp = path.stat().st_mtime_ns
    assert bm.mannequin_path() == path and path.stat().st_mtime_ns == stamp  # reused, not rewritten
    with np.load(path, allow_pickle=False) as npz:  # no pickled object anywhere in the file
        data = {key: npz[key] for key in npz.files}
    landmarks = dict(zip(data["landmark_names"].tolist(), data["landmark_vertices"].tolist()))
    model = smplx.SMPL(str(path), data_struct=Struct(**data), vertex_ids=landmarks)
    assert model.parents.tolist() == SMPL_PARENT_TABLE
    out = model(betas=torch.zeros(1, 10), body_pose=torch.zeros(1, 69), global_orient=torch.zeros(1, 3))
    assert out.joints.shape[1] >= 24 and out.vertices.shape == (1, len(data["v_template"]), 3)


def test_arrays_have_smpl_layout(arrays):
    v = len(arrays["v_template"])
    assert 2000 <= v <= 4000
    assert arrays["J_regressor"].shape == (24, v)
    np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0, atol=1e-5)
    assert (arrays["J_regressor"] >= 0).all() and (arrays["weights"] >= 0).all()
    np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0, atol=1e-5)
    assert arrays["shapedirs"].shape == (v, 3, 10)
    assert arrays["posedirs"].shape == (v, 3, 207) and not arrays["posedirs"].any()
    assert arrays["kintree_table"][0, 1:].tolist() == SMPL_PARENT_TABLE[1:]
    faces = arrays["f"]
    assert faces.min() == 0 and faces.max() == v - 1


def test_surface_is_closed_and_faces_point_outwards(arrays):
    faces = arrays["f"].astype(np.int64)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge is shared by exactly two triangles
    labels = arrays["weights"].argmax(axis=1)
    v = arrays["v_template"].astype(np.float64)
    for part in range(24):  # signed volume of each part's closed surface is positive
        mine = faces[labels[faces[:, 0]] == part]
        volume = np.einsum("ij,ij->i", v[mine[:, 0]], np.cross(v[mine[:, 1]], v[mine[:, 2]])).sum() / 6
        assert volume > 0, part


def test_rest_pose_is_a_plausible_t_pose(mannequin):
    vertices, joints = mannequin.forward(*zeros())
    np.testing.assert_allclose(joints[0], bm.MANNEQUIN_REST_JOINTS, atol=1e-5)  # regressed = placed
    np.testing.assert_allclose(mannequin.rest_joints(np.zeros(10))[0], bm.MANNEQUIN_REST_JOINTS, atol=1e-5)
    height = vertices[0, :, 1].max() - vertices[0, :, 1].min()
    assert 1.6 < height < 1.8
    assert np.linalg.norm(joints[0, 0]) < 0.3  # pelvis near the origin
    assert joints[0, 1, 0] > 0 > joints[0, 2, 0]  # left on +x, as in SMPL
    assert joints[0, 15, 1] > joints[0, 12, 1] > joints[0, 0, 1] > joints[0, 4, 1] > joints[0, 7, 1]
    assert abs(joints[0, 20, 1] - joints[0, 16, 1]) < 0.02  # arms horizontal
    assert mannequin.kind == "mannequin" and mannequin.num_betas == 10
    assert sorted(set(mannequin.part_labels.tolist())) == list(range(24))


def test_bending_the_left_elbow_moves_the_forearm_only(mannequin):
    go, pose, betas, transl = zeros()
    rest, _ = mannequin.forward(go, pose, betas, transl)
    pose[0, (LEFT_ELBOW - 1) * 3 + 1] = 1.2  # rotate about y
    bent, joints = mannequin.forward(go, pose, betas, transl)
    moved = np.linalg.norm(bent[0] - rest[0], axis=1)
    labels = mannequin.part_labels
    assert moved[np.isin(labels, LEFT_FOREARM_AND_HAND)].max() > 0.2
    assert moved[np.isin(labels, RIGHT_LEG)].max() < 1e-6
    assert np.linalg.norm(joints[0, 20] - bm.MANNEQUIN_REST_JOINTS[20]) > 0.2  # the wrist follows


def test_betas_change_the_body(mannequin):
    def height(beta0):
        betas = np.zeros((1, 10))
        betas[0, 0] = beta0
        vertices, _ = mannequin.forward(zeros()[0], zeros()[1], betas, zeros()[3])
        return vertices[0, :, 1].max() - vertices[0, :, 1].min()

    assert height(2.0) > height(0.0) + 0.1 > height(-2.0) + 0.2
    directions = mannequin._model.shapedirs.numpy()
    assert (np.abs(directions).reshape(-1, 10).max(axis=0) > 0.005).all()  # every beta does something


def test_pelvis_offset_places_the_root_for_any_rotation(mannequin):
    rng = np.random.default_rng(1)
    betas = rng.normal(size=(3, 10))
    transl = rng.normal(size=(3, 3))
    _, joints = mannequin.forward(rng.normal(size=(3, 3)), rng.normal(0, 0.2, (3, 69)), betas, transl)
    np.testing.assert_allclose(joints[:, 0], transl + mannequin.pelvis_offset(betas), atol=1e-5)


def test_bad_forward_inputs_raise(mannequin):
    go, pose, betas, transl = zeros(2)
    with pytest.raises(MotionError, match="body_pose"):
        mannequin.forward(go, pose[:, :63], betas, transl)
    with pytest.raises(MotionError, match="betas"):
        mannequin.forward(go, pose, np.zeros((2, 11)), transl)


def test_smpl_files_load_through_the_same_path(tmp_path, arrays, mannequin):
    folder = tmp_path / "models"
    (folder / "smpl").mkdir(parents=True)
    np.savez(folder / "smpl" / "SMPL_MALE.npz", **arrays)
    with open(tmp_path / "mine.pkl", "wb") as handle:
        pickle.dump({key: value for key, value in arrays.items()}, handle)
    expected, _ = mannequin.forward(*zeros())
    for spec, gender in ((folder, "male"), (tmp_path / "mine.pkl", "neutral")):
        model = bm.load_body_model(spec, gender=gender)
        assert model.kind == "smpl"
        np.testing.assert_allclose(model.forward(*zeros())[0], expected, atol=1e-6)


def _fake_smplx_file(path):
    """A random file laid out like SMPLX_NEUTRAL.npz (55 joints, 10475 vertices)."""
    rng = np.random.default_rng(0)
    parents = SMPL_PARENT_TABLE[:22] + [15, 15, 15]
    for wrist in (20, 21):
        for _finger in range(5):
            first = len(parents)
            parents += [wrist, first, first + 1]
    n_vertices, n_joints = 10475, 55
    owner = np.arange(n_vertices) % n_joints
    weights = np.eye(n_joints, dtype=np.float32)[owner]
    np.savez(
        path,
        v_template=(rng.normal(0, 0.3, (n_joints, 3))[owner] + rng.normal(0, 0.02, (n_vertices, 3))).astype(np.float32),
        f=np.stack([np.arange(n_vertices - 2), np.arange(1, n_vertices - 1), np.arange(2, n_vertices)], 1),
        J_regressor=(weights / weights.sum(0)).T.astype(np.float32),
        kintree_table=np.stack([parents, np.arange(n_joints)]).astype(np.int64),
        weights=weights,
        posedirs=np.zeros((n_vertices, 3, 486), np.float32),
        shapedirs=rng.normal(0, 0.01, (n_vertices, 3, 20)).astype(np.float32),
        hands_componentsl=np.eye(45, dtype=np.float32), hands_componentsr=np.eye(45, dtype=np.float32),
        hands_meanl=np.zeros(45, np.float32), hands_meanr=np.zeros(45, np.float32),
        lmk_faces_idx=np.arange(51, dtype=np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3, np.float32),
        part2num=np.array({"global": 0}, dtype=object),  # real SMPL-X files hold pickled dicts too
    )  # fmt: skip


def test_smplx_file_uses_21_body_joints_and_maps_to_smpl_joints(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    _fake_smplx_file(path)
    model = bm.load_body_model(path)
    assert model.kind == "smplx" and model.num_vertices == 10475
    go, pose, betas, transl = zeros(2)
    pose[:, :63] = np.random.default_rng(2).normal(0, 0.3, (2, 63))
    vertices, joints = model.forward(go, pose, betas, transl)
    assert vertices.shape == (2, 10475, 3) and joints.shape == (2, 24, 3)
    pose[:, 63:] = 1.0  # SMPL's two hand joints do not exist in SMPL-X's body pose
    np.testing.assert_array_equal(model.forward(go, pose, betas, transl)[0], vertices)
    assert model.part_labels.min() >= 0 and model.part_labels.max() <= 23
    assert model.rest_joints(np.zeros(10)).shape == (1, 24, 3)


class _RunsCode:
    """Unpickling this writes the file ``marker``: the proof that a loader unpickled it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path(self.marker).write_text, ("code ran",))


def test_an_smplx_npz_is_never_unpickled(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    _fake_smplx_file(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "part2num"}
    marker = tmp_path / "ran"
    np.savez(path, **arrays, joint2num=np.array([_RunsCode(marker)], dtype=object))
    model = bm.load_body_model(path)
    assert model.kind == "smplx" and model.num_vertices == 10475
    assert not marker.exists()


def test_missing_file_says_where_to_get_the_model(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    with pytest.raises(BodyModelError) as info:
        bm.load_body_model(path)
    message = str(info.value)
    assert str(path) in message and "https://smpl.is.tue.mpg.de" in message
    assert "https://smpl-x.is.tue.mpg.de" in message and "mannequin" in message
    with pytest.raises(BodyModelError, match="SMPL_FEMALE"):
        bm.load_body_model(tmp_path, gender="female")


def test_wrong_files_raise_naming_the_file(tmp_path, arrays):
    made_up = tmp_path / "made_up.npz"
    np.savez(made_up, v_template=np.zeros((5, 3)), something=np.ones(2))
    with pytest.raises(BodyModelError, match=r"made_up\.npz.*J_regressor"):
        bm.load_body_model(made_up)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(BodyModelError, match="corrupt.npz"):
        bm.load_body_model(corrupt)
    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez(wrong_shape, **(arrays | {"posedirs": np.zeros((len(arrays["v_template"]), 3, 10))}))
    with pytest.raises(BodyModelError, match="posedirs"):
        bm.load_body_model(wrong_shape)
    a_list = tmp_path / "list.pkl"
    a_list.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(BodyModelError, match="list"):
        bm.load_body_model(a_list)
    text = tmp_path / "model.txt"
    text.write_text("hello")
    with pytest.raises(BodyModelError, match="model.txt"):
        bm.load_body_model(text)
    with pytest.raises(BodyModelError, match="gender"):
        bm.load_body_model("mannequin", gender="other")
