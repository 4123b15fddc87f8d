"""SMPL-family body models: the built-in mannequin, and real SMPL / SMPL-X files.

Why the package makes its own body model: SMPL and SMPL-X are licensed by the Max Planck
Institute and cannot be shipped or downloaded by a tool, yet the dataset builder needs a body
mesh to render avatars out of the box, offline. The *mannequin* is a licence-free stand-in in
the SMPL format, generated here in plain numpy: the 24 SMPL joints and kinematic tree, a T-pose
in metres (y up, facing +z, left on +x, pelvis near the origin as in SMPL), one closed tapered
capsule per joint (about 3.3k vertices), linear-blend-skinning weights that blend into the
parent near each joint, a joint regressor, and 10 shape directions. Its betas have their own
meaning (see :data:`MANNEQUIN_BETAS`); only their count and format match SMPL. It has no
pose-corrective blend shapes: ``posedirs`` is all zeros (207 rows, as SMPL's lbs expects).

Every model, mannequin or real, is run by ``smplx`` (its ``SMPL`` / ``SMPLX`` classes and
``lbs``). smplx 0.1.28's ``SMPL`` only reads pickles from ``model_path``, so ``.npz`` files are
read here with ``allow_pickle=False`` and handed to it as ``data_struct``; that is the one path
for the mannequin and for real SMPL ``.npz`` files. A ``.pkl`` is unpickled only when the user
names it. ``smplx.SMPLX`` always opens its file itself, and opens an ``.npz`` with pickles
allowed, so a crafted file would run code: an SMPL-X ``.npz`` is read here with
``allow_pickle=False``, its plain arrays (everything smplx uses; real files also hold pickled
bookkeeping dicts such as ``part2num``, which are skipped) are written to a temporary ``.npz``
without any object array, and smplx opens that copy.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BodyModelError, MotionError
from ..files import atomic_path

# ---------------------------------------------------------------------------------------------
# The SMPL skeleton
# ---------------------------------------------------------------------------------------------

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
NUM_JOINTS = 24
NUM_BETAS = 10
NUM_POSE_BASIS = 9 * (NUM_JOINTS - 1)  # 207: one 3x3 rotation (minus identity) per non-root joint

# Left joint -> its mirror on the right (left is +x in SMPL's rest pose).
_MIRROR = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 22: 23}

# Rest (T-pose) positions in metres of the centre line and the left side; the right side is the
# mirror image. Chosen for a ~1.69 m adult: soles at y = -1.16, top of the head at y = 0.53.
_CENTRE_AND_LEFT = {
    0: (0.0, -0.22, 0.0),  # pelvis
    1: (0.09, -0.30, 0.0),  # hip
    3: (0.0, -0.11, 0.0),  # spine1
    4: (0.10, -0.70, 0.0),  # knee
    6: (0.0, 0.03, 0.0),  # spine2
    7: (0.10, -1.09, -0.02),  # ankle
    9: (0.0, 0.09, 0.0),  # spine3
    10: (0.11, -1.14, 0.10),  # ball of the foot
    12: (0.0, 0.29, 0.0),  # neck
    13: (0.07, 0.21, 0.0),  # collar
    15: (0.0, 0.37, 0.02),  # head
    16: (0.17, 0.22, 0.0),  # shoulder
    18: (0.43, 0.22, 0.0),  # elbow
    20: (0.68, 0.22, 0.0),  # wrist
    22: (0.77, 0.22, 0.0),  # hand (knuckles)
}


def _mirror_x(point: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-point[0], point[1], point[2])


def _rest_joints() -> np.ndarray:
    joints = np.zeros((NUM_JOINTS, 3))
    for j, pos in _CENTRE_AND_LEFT.items():
        joints[j] = pos
        if j in _MIRROR:
            joints[_MIRROR[j]] = _mirror_x(pos)
    return joints


MANNEQUIN_REST_JOINTS = _rest_joints()
"""(24, 3) float64: where the mannequin's joints are placed in the rest pose (metres)."""

# ---------------------------------------------------------------------------------------------
# The mannequin's surface: one closed, tapered capsule with an elliptic cross-section per joint
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """A tapered capsule from ``start`` to ``end`` that moves with joint ``label``.

    ``radius_*`` are (across, depth) half-widths of the cross-section; ``across`` is the
    direction of the first one. ``caps`` says how far the rounded ends reach beyond the start
    and end points. Vertices near the start blend into joint ``blend_start``, near the end into
    ``blend_end`` (None: no blending). ``around`` is the number of vertices per ring.
    """

    label: int
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius_start: tuple[float, float]
    radius_end: tuple[float, float]
    caps: tuple[float, float]
    blend_start: int | None
    blend_end: int | None
    across: tuple[float, float, float] = (1.0, 0.0, 0.0)
    around: int = 12

    def mirrored(self) -> _Part:
        """The same part on the other side of the body (x -> -x, left joints -> right joints)."""

        def other_side(joint: int | None) -> int | None:
            return None if joint is None else _MIRROR.get(joint, joint)

        return _Part(
            label=_MIRROR[self.label], start=_mirror_x(self.start), end=_mirror_x(self.end),
            radius_start=self.radius_start, radius_end=self.radius_end, caps=self.caps,
            blend_start=other_side(self.blend_start), blend_end=other_side(self.blend_end),
            across=_mirror_x(self.across), around=self.around,
        )  # fmt: skip


def _parts() -> list[_Part]:
    j = _CENTRE_AND_LEFT
    z_axis = (0.0, 0.0, 1.0)
    centre = [
        _Part(0, j[0], j[3], (0.155, 0.10), (0.14, 0.095), (0.10, 0.02), None, 3, around=20),
        _Part(3, j[3], j[6], (0.14, 0.095), (0.145, 0.10), (0.02, 0.02), 0, 6, around=20),
        _Part(6, j[6], j[9], (0.145, 0.10), (0.16, 0.105), (0.02, 0.02), 3, 9, around=20),
        _Part(9, j[9], j[12], (0.16, 0.105), (0.15, 0.09), (0.02, 0.05), 6, 12, around=20),
        _Part(12, j[12], j[15], (0.05, 0.05), (0.05, 0.05), (0.02, 0.02), 9, 15),
        _Part(15, j[15], (0.0, 0.47, 0.02), (0.085, 0.095), (0.085, 0.095), (0.04, 0.06), 12, None, around=16),
    ]  # fmt: skip
    left = [
        _Part(1, j[1], j[4], (0.08, 0.08), (0.055, 0.055), (0.05, 0.03), 0, 4),
        _Part(4, j[4], j[7], (0.055, 0.055), (0.037, 0.037), (0.02, 0.02), 1, 7),
        _Part(7, (0.10, -1.13, -0.06), j[10], (0.04, 0.03), (0.045, 0.025), (0.03, 0.01), None, 10, around=10),
        _Part(10, j[10], (0.11, -1.14, 0.17), (0.045, 0.025), (0.04, 0.018), (0.01, 0.02), 7, None, around=10),
        _Part(13, j[13], j[16], (0.05, 0.05), (0.055, 0.055), (0.03, 0.03), 9, 16, z_axis, around=10),
        _Part(16, j[16], j[18], (0.05, 0.05), (0.04, 0.04), (0.04, 0.02), 13, 18, z_axis),
        _Part(18, j[18], j[20], (0.04, 0.04), (0.03, 0.03), (0.02, 0.02), 16, 20, z_axis),
        _Part(20, j[20], j[22], (0.04, 0.016), (0.042, 0.015), (0.01, 0.01), 18, 22, z_axis, around=10),
        _Part(22, j[22], (0.86, 0.22, 0.0), (0.042, 0.013), (0.035, 0.01), (0.01, 0.015), 20, None, z_axis, around=10),
    ]  # fmt: skip
    return centre + left + [part.mirrored() for part in left]


_BODY_RINGS = 6  # rings from start to end (both included)
_CAP_RINGS = 3  # rings on each rounded end, between the end ring and the pole


@dataclass
class _Surface:
    """One part's vertices and faces, with what the weights and shape directions need."""

    vertices: np.ndarray  # (n, 3)
    faces: np.ndarray  # (m, 3), local indices
    axial: np.ndarray  # (n,) position along the axis, 0 at start, 1 at end (caps go beyond)
    axis_point: np.ndarray  # (n, 3) nearest point on the start-end segment
    ring_start: np.ndarray  # indices of the ring whose centre is `start`
    ring_end: np.ndarray  # indices of the ring whose centre is `end`


def _capsule(part: _Part) -> _Surface:
    """A closed surface: a pole, cap rings, body rings, cap rings, a pole; faces wound outwards.

    Each ring is (offset along the axis in metres, (across, depth) radii); ring vertices are at
    uniformly spaced angles, so every ring's centroid lies on the axis.
    """
    start, end = np.asarray(part.start), np.asarray(part.end)
    length = float(np.linalg.norm(end - start))
    axis = (end - start) / length
    across = np.asarray(part.across) - np.dot(part.across, axis) * axis
    across /= np.linalg.norm(across)
    depth = np.cross(axis, across)
    r0, r1 = np.asarray(part.radius_start), np.asarray(part.radius_end)

    cap_angles = np.pi / 2 * np.arange(_CAP_RINGS, 0, -1) / (_CAP_RINGS + 1)  # pole side first
    rings = [(-part.caps[0] * np.sin(a), r0 * np.cos(a)) for a in cap_angles]
    rings += [(t * length, (1 - t) * r0 + t * r1) for t in np.linspace(0.0, 1.0, _BODY_RINGS)]
    rings += [(length + part.caps[1] * np.sin(a), r1 * np.cos(a)) for a in cap_angles[::-1]]

    theta = 2 * np.pi * np.arange(part.around) / part.around
    circle = np.stack([np.cos(theta), np.sin(theta)], axis=1)  # (around, 2)
    points = [start - part.caps[0] * axis]
    for offset, radii in rings:
        ring = start + offset * axis + (circle[:, :1] * radii[0]) * across + (circle[:, 1:] * radii[1]) * depth
        points.extend(ring)
    points.append(end + part.caps[1] * axis)
    vertices = np.asarray(points)

    n, last = part.around, len(points) - 1
    k = np.arange(n)
    k1 = (k + 1) % n
    ring_index = lambda r: 1 + r * n  # noqa: E731  first vertex of ring r
    faces = [np.stack([np.zeros(n, int), ring_index(0) + k1, ring_index(0) + k], axis=1)]
    for r in range(len(rings) - 1):
        a, b = ring_index(r), ring_index(r + 1)
        faces.append(np.stack([a + k, a + k1, b + k1], axis=1))
        faces.append(np.stack([a + k, b + k1, b + k], axis=1))
    faces.append(np.stack([np.full(n, last), ring_index(len(rings) - 1) + k, ring_index(len(rings) - 1) + k1], axis=1))

    along = (vertices - start) @ axis
    axis_point = start + np.clip(along, 0.0, length)[:, None] * axis
    first_body = ring_index(_CAP_RINGS)
    last_body = ring_index(_CAP_RINGS + _BODY_RINGS - 1)
    return _Surface(
        vertices=vertices, faces=np.concatenate(faces), axial=along / length, axis_point=axis_point,
        ring_start=np.arange(first_body, first_body + n), ring_end=np.arange(last_body, last_body + n),
    )  # fmt: skip


_BLEND_SPAN = 0.25  # fraction of a part's length over which it blends into a neighbour joint
_BLEND_MAX = 0.45  # weight of the neighbour at the joint; the part's own joint keeps the rest


def _skinning_weights(part: _Part, surface: _Surface) -> np.ndarray:
    """(n, 24): the own joint everywhere, blending into the neighbours towards the ends."""
    weights = np.zeros((len(surface.vertices), NUM_JOINTS))
    if part.blend_start is not None:
        weights[:, part.blend_start] = _BLEND_MAX * np.clip(1 - surface.axial / _BLEND_SPAN, 0, 1)
    if part.blend_end is not None:
        weights[:, part.blend_end] = _BLEND_MAX * np.clip(1 - (1 - surface.axial) / _BLEND_SPAN, 0, 1)
    weights[:, part.label] = 1.0 - weights.sum(axis=1)
    return weights


def _joint_regressor(parts: list[_Part], surfaces: list[_Surface], offsets: list[int], n_vertices: int) -> np.ndarray:
    """(24, V): each joint is the mean of every part ring centred exactly on it.

    A ring of uniformly spaced angles has its centroid on the axis, so the regressed joint is
    the placed one, and it follows any shape change that moves the ring.
    """
    regressor = np.zeros((NUM_JOINTS, n_vertices))
    for joint, position in enumerate(MANNEQUIN_REST_JOINTS):
        for part, surface, offset in zip(parts, surfaces, offsets):
            for point, ring in ((part.start, surface.ring_start), (part.end, surface.ring_end)):
                if np.allclose(point, position, atol=1e-9):
                    regressor[joint, offset + ring] = 1.0
        if not regressor[joint].any():
            raise RuntimeError(f"mannequin: no ring is centred on joint {JOINT_NAMES[joint]}")
        regressor[joint] /= regressor[joint].sum()
    return regressor


#: Mannequin beta 0 scales the whole body about the pelvis by ``1 + MANNEQUIN_STATURE_PER_BETA * beta_0``.
MANNEQUIN_STATURE_PER_BETA = 0.06

# What each mannequin beta does (per unit), with the field of offsets that implements it.
MANNEQUIN_BETAS = (
    "stature: uniform 6% scale about the pelvis",
    "girth: every part 12% thicker",
    "leg length: 6% longer below the hips",
    "arm length: 6% longer beyond the shoulders",
    "shoulder width: chest and arms 10% wider towards the shoulders",
    "hip width: pelvis and legs 10% wider towards the hips",
    "belly: 20% deeper abdomen",
    "torso length: 6% longer from pelvis to neck",
    "head size: 10% larger head",
    "limb girth: arms and legs 12% thicker",
)


def _shape_directions(vertices: np.ndarray, labels: np.ndarray, axis_point: np.ndarray) -> np.ndarray:
    """(V, 3, 10) offsets per unit beta; continuous fields of position where parts meet."""
    joints = MANNEQUIN_REST_JOINTS
    x, y, z = vertices.T
    pelvis, hip_y, spine1_y, spine2_y = joints[0], joints[1, 1], joints[3, 1], joints[6, 1]
    shoulder_x, shoulder_y, neck_y = joints[16, 0], joints[16, 1], joints[12, 1]
    limbs = np.isin(labels, [1, 2, 4, 5, 7, 8, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23])
    dirs = np.zeros((len(vertices), 3, NUM_BETAS))
    dirs[:, :, 0] = MANNEQUIN_STATURE_PER_BETA * (vertices - pelvis)
    dirs[:, :, 1] = 0.12 * (vertices - axis_point)
    dirs[:, 1, 2] = 0.06 * np.minimum(y - hip_y, 0.0)
    dirs[:, 0, 3] = 0.06 * np.sign(x) * np.maximum(np.abs(x) - shoulder_x, 0.0)
    towards_shoulders = np.clip((y - spine2_y) / (shoulder_y - spine2_y), 0, 1)
    dirs[:, 0, 4] = 0.10 * towards_shoulders * np.clip(x, -shoulder_x, shoulder_x)
    towards_hips = np.clip((spine1_y - y) / (spine1_y - hip_y), 0, 1)
    dirs[:, 0, 5] = 0.10 * towards_hips * np.clip(x, -joints[1, 0] - 0.06, joints[1, 0] + 0.06)
    belly = np.clip(1 - np.abs(y - spine1_y) / 0.2, 0, 1) * (np.abs(x) < shoulder_x)
    dirs[:, 2, 6] = 0.20 * belly * (z - pelvis[2])
    dirs[:, 1, 7] = 0.06 * np.clip(y - pelvis[1], 0.0, neck_y - pelvis[1])
    head = labels == 15
    dirs[head, :, 8] = 0.10 * (vertices[head] - (joints[15] + [0.0, 0.05, 0.0]))
    dirs[limbs, :, 9] = 0.12 * (vertices[limbs] - axis_point[limbs])
    return dirs


# Landmark vertices that smplx's VertexJointSelector appends to the 24 joints (its names):
# (name, part, target point on the left side); the nearest vertex of that part is used.
_LANDMARKS = (
    ("nose", 15, (0.0, 0.42, 0.3)), ("leye", 15, (0.035, 0.45, 0.11)), ("lear", 15, (0.3, 0.42, 0.02)),
    ("LBigToe", 10, (0.08, -1.15, 0.3)), ("LSmallToe", 10, (0.14, -1.15, 0.3)),
    ("LHeel", 7, (0.10, -1.25, -0.2)), ("lthumb", 22, (0.80, 0.22, 0.3)),
    ("lindex", 22, (1.0, 0.22, 0.08)), ("lmiddle", 22, (1.0, 0.22, 0.02)),
    ("lring", 22, (1.0, 0.22, -0.02)), ("lpinky", 22, (1.0, 0.22, -0.08)),
)  # fmt: skip
_RIGHT_NAME = {"nose": None, "leye": "reye", "lear": "rear", "LBigToe": "RBigToe",
               "LSmallToe": "RSmallToe", "LHeel": "RHeel"}  # fmt: skip


def _landmarks(vertices: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    found = {}
    for name, label, target in _LANDMARKS:
        right = _RIGHT_NAME.get(name, "r" + name[1:])
        for key, part, point in ((name, label, target), (right, _MIRROR.get(label, label), _mirror_x(target))):
            if key is None:
                continue
            candidates = np.flatnonzero(labels == part)
            found[key] = int(candidates[np.argmin(np.linalg.norm(vertices[candidates] - point, axis=1))])
    return found


def mannequin_arrays() -> dict[str, np.ndarray]:
    """Generate the mannequin, deterministically, as SMPL-format arrays.

    Returns:
        ``v_template`` (V, 3) f4, ``f`` (F, 3) i4, ``weights`` (V, 24) f4, ``J_regressor``
        (24, V) f4 (rows sum to 1), ``shapedirs`` (V, 3, 10) f4, ``posedirs`` (V, 3, 207) f4
        (zeros), ``kintree_table`` (2, 24) i8 (parents, then joint ids; root parent -1), plus
        ``landmark_names`` / ``landmark_vertices`` for smplx's extra keypoints.
    """
    parts = _parts()
    surfaces = [_capsule(part) for part in parts]
    offsets = list(np.cumsum([0] + [len(s.vertices) for s in surfaces[:-1]]))
    vertices = np.concatenate([s.vertices for s in surfaces])
    faces = np.concatenate([s.faces + off for s, off in zip(surfaces, offsets)])
    weights = np.concatenate([_skinning_weights(p, s) for p, s in zip(parts, surfaces)])
    labels = np.concatenate([np.full(len(s.vertices), p.label) for p, s in zip(parts, surfaces)])
    axis_point = np.concatenate([s.axis_point for s in surfaces])
    landmarks = _landmarks(vertices, labels)
    return {
        "v_template": vertices.astype(np.float32),
        "f": faces.astype(np.int32),
        "weights": weights.astype(np.float32),
        "J_regressor": _joint_regressor(parts, surfaces, offsets, len(vertices)).astype(np.float32),
        "shapedirs": _shape_directions(vertices, labels, axis_point).astype(np.float32),
        "posedirs": np.zeros((len(vertices), 3, NUM_POSE_BASIS), dtype=np.float32),
        "kintree_table": np.stack([np.asarray(SMPL_PARENTS), np.arange(NUM_JOINTS)]).astype(np.int64),
        "landmark_names": np.asarray(list(landmarks), dtype=str),
        "landmark_vertices": np.asarray(list(landmarks.values()), dtype=np.int64),
    }


# ---------------------------------------------------------------------------------------------
# The cached mannequin file
# ---------------------------------------------------------------------------------------------

MANNEQUIN_VERSION = 1  # bump when the generator changes, so stale caches are not reused


def mannequin_path() -> Path:
    """The mannequin's ``.npz`` in the cache, generated and written atomically on first use."""
    from ..cache import cache_root

    path = cache_root() / "body_models" / f"mannequin_v{MANNEQUIN_VERSION}.npz"
    if not path.is_file():
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **mannequin_arrays())
    return path


# ---------------------------------------------------------------------------------------------
# Loading any SMPL-family file through smplx
# ---------------------------------------------------------------------------------------------

SMPL_URL = "https://smpl.is.tue.mpg.de"
SMPLX_URL = "https://smpl-x.is.tue.mpg.de"
GENDERS = ("neutral", "male", "female")
_SMPL_KEYS = ("v_template", "f", "J_regressor", "kintree_table", "weights", "posedirs", "shapedirs")
_SMPLX_KEYS = _SMPL_KEYS + ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
                            "lmk_faces_idx", "lmk_bary_coords")  # fmt: skip
# SMPL-X joints standing in for SMPL's 24: the 22 shared body joints, then the middle-finger
# bases for SMPL's left/right "hand" joints.
_SMPLX_TO_SMPL_JOINTS = tuple(range(22)) + (28, 43)
# SMPL-X joints beyond the body (jaw, eyes, fingers) -> the SMPL part they belong to.
_SMPLX_EXTRA_PARTS = {22: 15, 23: 15, 24: 15, **{j: 22 for j in range(25, 40)}, **{j: 23 for j in range(40, 55)}}


def _missing_message(path: Path) -> str:
    return (
        f"body model file {path} does not exist. SMPL and SMPL-X cannot be shipped with this "
        f"package: register and download SMPL from {SMPL_URL} (e.g. SMPL_NEUTRAL.pkl) or SMPL-X "
        f"from {SMPLX_URL} (e.g. SMPLX_NEUTRAL.npz) under their licences, then pass the file's "
        "path (or a folder holding SMPL_<GENDER>.* / SMPLX_<GENDER>.*) as the body model, e.g. "
        "--body-model /path/to/SMPL_NEUTRAL.pkl; or use 'mannequin', which needs no download"
    )


def _find_in_folder(folder: Path, gender: str) -> Path:
    names = [f"{prefix}_{gender.upper()}.{ext}" for prefix in ("SMPLX", "SMPL") for ext in ("npz", "pkl")]
    tried = [sub / name for sub in (folder, folder / "smplx", folder / "smpl") for name in names]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise BodyModelError(_missing_message(folder / names[-1]) + f" (looked for {', '.join(map(str, tried))})")


def _read_model_file(path: Path) -> tuple[str, dict[str, Any]]:
    """Return the model kind ("smpl" / "smplx") and, for SMPL, the arrays smplx needs."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                keys = set(npz.files)
                if "hands_componentsl" in keys:  # SMPL-X: every plain array, the pickled extras left out
                    contents = _plain_arrays(npz)
                    keys = set(contents)
                else:
                    contents = {k: npz[k] for k in keys if k in _SMPL_KEYS or k.startswith("landmark_")}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise BodyModelError(f"body model file {path} is not a readable .npz of plain arrays: {exc}") from exc
    elif suffix == ".pkl":
        try:  # the user named this file, so unpickling it is their call
            with open(path, "rb") as handle:
                contents = pickle.load(handle, encoding="latin1")
        except ModuleNotFoundError as exc:
            hint = ("it holds chumpy objects: convert it with smplx's tools/clean_ch.py"
                    if exc.name == "chumpy" else f"`pip install {exc.name}` to read it")  # fmt: skip
            raise BodyModelError(f"body model file {path} cannot be unpickled: {hint}") from exc
        except Exception as exc:  # any unpickling failure means "not a model file"
            raise BodyModelError(f"body model file {path} is not a readable pickle: {exc}") from exc
        if not isinstance(contents, dict):
            raise BodyModelError(f"body model file {path} holds a {type(contents).__name__}, not a dict of arrays")
        keys = set(contents)
    else:
        raise BodyModelError(f"body model file {path} has extension {suffix!r}; expected .pkl or .npz")

    if "hands_componentsl" in keys:
        joints = np.shape(contents["J_regressor"])[:1] if "J_regressor" in contents else ()
        if joints != (55,):
            raise BodyModelError(f"body model file {path} has hand components but J_regressor rows {joints}: "
                                 "SMPL-H and MANO are not supported, use SMPL or SMPL-X")  # fmt: skip
        missing = [k for k in _SMPLX_KEYS if k not in keys]
        if missing:
            raise BodyModelError(f"body model file {path} looks like SMPL-X but misses {missing}")
        return "smplx", contents if suffix == ".npz" else {}
    missing = [k for k in _SMPL_KEYS if k not in keys]
    if missing:
        raise BodyModelError(f"body model file {path} is not an SMPL or SMPL-X model: it misses {missing}")
    _check_smpl_shapes(path, contents)
    return "smpl", {k: v for k, v in contents.items() if k in _SMPL_KEYS or k.startswith("landmark_")}


def _plain_arrays(npz) -> dict[str, np.ndarray]:
    """The arrays of an open ``np.load(..., allow_pickle=False)`` that are not pickled objects."""
    arrays = {}
    for key in npz.files:
        try:
            arrays[key] = npz[key]
        except ValueError:  # an object array: never unpickled
            continue
    return arrays


def _smplx_model(path: Path, arrays: dict[str, np.ndarray]):
    """``smplx.SMPLX`` on ``path`` (a ``.pkl`` the user named), or on a pickle-free copy of an ``.npz``'s arrays."""
    import tempfile

    import smplx

    if not arrays:
        return smplx.SMPLX(str(path), ext="pkl", num_betas=NUM_BETAS, use_pca=False)
    with tempfile.TemporaryDirectory(prefix="amg_bench_smplx_") as folder:
        copy = Path(folder) / "SMPLX_NEUTRAL.npz"
        np.savez(copy, **arrays)
        return smplx.SMPLX(str(copy), ext="npz", num_betas=NUM_BETAS, use_pca=False)


def _check_smpl_shapes(path: Path, arrays: dict[str, Any]) -> None:
    """Shapes smplx's SMPL class relies on, checked so a wrong file fails with its name."""
    v = np.shape(arrays["v_template"])
    n = v[0] if len(v) == 2 else -1
    expected = {
        "v_template": (n, 3), "weights": (n, NUM_JOINTS), "J_regressor": (NUM_JOINTS, n),
        "posedirs": (n, 3, NUM_POSE_BASIS), "kintree_table": (2, NUM_JOINTS),
    }  # fmt: skip
    for key, shape in expected.items():
        if np.shape(arrays[key]) != shape or n < 1:
            raise BodyModelError(f"body model file {path}: '{key}' has shape {np.shape(arrays[key])}, expected {shape}")
    shapedirs, faces = np.shape(arrays["shapedirs"]), np.asarray(arrays["f"])
    if len(shapedirs) != 3 or shapedirs[:2] != (n, 3):
        raise BodyModelError(f"body model file {path}: 'shapedirs' has shape {shapedirs}, expected ({n}, 3, B)")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.size == 0 or faces.min() < 0 or faces.max() >= n:
        raise BodyModelError(f"body model file {path}: 'f' must be (F, 3) indices below {n}, got {faces.shape}")


#: The bones whose summed length measures stature: each leg (ankle-knee-hip-pelvis; the two averaged) and the
#: spine up to the head (pelvis-spine1-spine2-spine3-neck-head), as (joint, parent) pairs of the SMPL tree.
STATURE_LEGS = (((7, 4), (4, 1), (1, 0)), ((8, 5), (5, 2), (2, 0)))
STATURE_SPINE = ((3, 0), (6, 3), (9, 6), (12, 9), (15, 12))


def stature_length(joints: np.ndarray) -> np.ndarray:
    """Sum of the stature bones' lengths of ``(..., 24, 3)`` SMPL-order joints (legs averaged), shape ``(...)``.

    Bone lengths do not change with the pose, so this measures the same body in any frame.
    """
    joints = np.asarray(joints, dtype=np.float64)

    def chain(bones) -> np.ndarray:
        return sum(np.linalg.norm(joints[..., a, :] - joints[..., b, :], axis=-1) for a, b in bones)

    return (chain(STATURE_LEGS[0]) + chain(STATURE_LEGS[1])) / 2 + chain(STATURE_SPINE)


QUANTUM_M = 1e-6


def _quantised(points: Any) -> np.ndarray:
    """Model output rounded to a micrometre (far below a pixel).

    Matrix products inside smplx sum in an order that depends on the BLAS thread count and the
    CPU's vector width, so the last bits of the output vary between machines and runs. The
    forward pass runs on one thread and its output is rounded to 1 um, so posed meshes, and so
    renders, are identical from run to run.
    """
    return (np.round(points.cpu().numpy().astype(np.float64) / QUANTUM_M) * QUANTUM_M).astype(np.float32)


@contextlib.contextmanager
def _one_thread(torch: Any) -> Iterator[None]:
    """Run a block on a single torch thread (a fixed summation order), then restore the count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class BodyModel:
    """An smplx body model with a numpy interface and the SMPL joint set.

    Attributes:
        kind: ``"mannequin"``, ``"smpl"`` or ``"smplx"``.
        path: the model file.
        faces: (F, 3) int64 triangle vertex indices.
        part_labels: (V,) int64 SMPL joint (0..23) dominating each vertex (argmax of the
            skinning weights; SMPL-X face and finger joints count as head and hands).
        num_betas: number of shape coefficients the model uses.
    """

    def __init__(self, model: Any, kind: str, path: Path) -> None:
        import torch

        self._model = model
        self._torch = torch
        self.kind = kind
        self.path = path
        self.faces = np.asarray(model.faces, dtype=np.int64)
        labels = model.lbs_weights.argmax(dim=1).cpu().numpy()
        if kind == "smplx":
            labels = np.array([_SMPLX_EXTRA_PARTS.get(int(j), int(j)) for j in range(55)])[labels]
        self.part_labels = labels.astype(np.int64)
        self.num_betas = int(model.num_betas)
        self._device = model.v_template.device

    @property
    def num_vertices(self) -> int:
        return int(self._model.v_template.shape[0])

    def _tensor(self, name: str, value: np.ndarray, width: int, n: int | None = None) -> Any:
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != width or (n is not None and array.shape[0] != n):
            want = f"({n if n is not None else 'N'}, {width})"
            raise MotionError(f"body model input '{name}' must have shape {want}, got {array.shape}")
        return self._torch.from_numpy(np.ascontiguousarray(array)).to(self._device)

    def _betas(self, betas: np.ndarray, n: int | None) -> Any:
        betas = np.asarray(betas, dtype=np.float32)
        if betas.ndim == 1:
            betas = betas[None]
        if betas.ndim != 2 or betas.shape[1] > self.num_betas:
            raise MotionError(f"body model input 'betas' must be (N, B<={self.num_betas}) or (B,), got {betas.shape}")
        betas = np.pad(betas, ((0, 0), (0, self.num_betas - betas.shape[1])))  # absent betas are 0
        if n is not None and betas.shape[0] == 1:
            betas = np.repeat(betas, n, axis=0)
        return self._tensor("betas", betas, self.num_betas, n)

    def forward(
        self, global_orient: np.ndarray, body_pose: np.ndarray, betas: np.ndarray, transl: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pose the body.

        Args:
            global_orient: (N, 3) root axis-angle.
            body_pose: (N, 69) axis-angle of SMPL joints 1..23; SMPL-X uses the first 63 (21
                body joints) and its default hands, jaw, eyes and expression.
            betas: (N, B) or (B,) shape coefficients, B <= ``num_betas`` (missing ones are 0).
            transl: (N, 3) SMPL translation in metres.

        Returns:
            vertices (N, V, 3) float32 and joints (N, 24, 3) float32 (SMPL joint order; for
            SMPL-X the "hand" joints are the middle-finger bases).

        Raises:
            MotionError: an input has the wrong shape.
        """
        torch = self._torch
        global_orient = self._tensor("global_orient", global_orient, 3)
        n = int(global_orient.shape[0])
        body_pose = self._tensor("body_pose", body_pose, 69, n)
        transl = self._tensor("transl", transl, 3, n)
        inputs = dict(global_orient=global_orient, betas=self._betas(betas, n), transl=transl)
        if self.kind == "smplx":
            zeros = lambda width: torch.zeros((n, width), device=self._device)  # noqa: E731
            inputs |= dict(body_pose=body_pose[:, :63], left_hand_pose=zeros(45), right_hand_pose=zeros(45),
                           jaw_pose=zeros(3), leye_pose=zeros(3), reye_pose=zeros(3),
                           expression=zeros(self._model.num_expression_coeffs))  # fmt: skip
            joint_index = list(_SMPLX_TO_SMPL_JOINTS)
        else:
            inputs["body_pose"] = body_pose
            joint_index = list(range(NUM_JOINTS))
        with torch.no_grad(), _one_thread(torch):
            output = self._model(**inputs)
        return _quantised(output.vertices), _quantised(output.joints[:, joint_index])

    def rest_joints(self, betas: np.ndarray) -> np.ndarray:
        """(N, 24, 3) float32 joints of the shaped body in the rest pose, without translation.

        In any pose with root rotation ``R``, the pelvis's children (joints 1, 2, 3) are at
        ``transl + J_0 + R (J_j - J_0)``; that is how a translation given for another point
        (e.g. TRACE's hip midpoint, the mean of joints 1 and 2) converts to SMPL's ``transl``.
        """
        from smplx.lbs import blend_shapes, vertices2joints

        betas_t = self._betas(betas, None)
        with self._torch.no_grad(), _one_thread(self._torch):
            shaped = self._model.v_template + blend_shapes(betas_t, self._model.shapedirs)
            joints = vertices2joints(self._model.J_regressor, shaped)
        return _quantised(joints[:, list(_SMPLX_TO_SMPL_JOINTS if self.kind == "smplx" else range(NUM_JOINTS))])

    def pelvis_offset(self, betas: np.ndarray) -> np.ndarray:
        """(N, 3) float32 rest position of the pelvis.

        The root rotation turns the body about the pelvis, so in any pose the world pelvis is
        ``transl + pelvis_offset(betas)``.
        """
        return self.rest_joints(betas)[:, 0]


def load_body_model(spec: str | os.PathLike = "mannequin", gender: str = "neutral", device: str = "cpu") -> BodyModel:
    """Load the mannequin or a real SMPL / SMPL-X file, run by smplx.

    Args:
        spec: ``"mannequin"``, a model file (``.npz`` or a ``.pkl`` you trust), or a folder
            holding ``SMPL_<GENDER>.*`` / ``SMPLX_<GENDER>.*`` (also in ``smpl/``, ``smplx/``).
        gender: picks the file in a folder; the mannequin is gender-neutral and ignores it.
        device: torch device the model runs on.

    Raises:
        BodyModelError: unknown gender, missing file (the message says where to get SMPL /
            SMPL-X), or a file that is not an SMPL / SMPL-X model (naming what is missing).
    """
    import smplx
    from smplx.utils import Struct

    if gender not in GENDERS:
        raise BodyModelError(f"body model gender must be one of {GENDERS}, got {gender!r}")
    if str(spec) == "mannequin":
        path, kind = mannequin_path(), "mannequin"
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            path = _find_in_folder(path, gender)
        elif not path.is_file():
            raise BodyModelError(_missing_message(path))
        kind = ""
    detected, arrays = _read_model_file(path)
    kind = kind or detected

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a notice for 10-beta models
            if detected == "smplx":
                model = _smplx_model(path, arrays)
            else:
                landmark_ids = None
                if "landmark_names" in arrays:
                    landmark_ids = dict(zip(arrays["landmark_names"].tolist(), arrays["landmark_vertices"].tolist()))
                model = smplx.SMPL(
                    str(path), data_struct=Struct(**arrays), num_betas=NUM_BETAS, vertex_ids=landmark_ids
                )
    except Exception as exc:  # smplx asserts and indexes; any failure means a malformed file
        raise BodyModelError(f"smplx could not build a {detected.upper()} model from {path}: {exc}") from exc
    return BodyModel(model.to(device), kind, path)
