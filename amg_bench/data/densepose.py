"""DensePose's fine-segmentation convention, in which the ``pose_video`` column is rendered.

MagicAnimate's pose ControlNet was trained on DensePose renders, so its driving video must look
like one: each body pixel coloured by its DensePose part index ``I`` (1..24), the background by
index 0. The colours are those of the release's own driving videos (``inputs/applications/
driving/densepose/*.mp4``, decoded and matched to within video-compression error): detectron2's
fine-segmentation visualiser scales ``I`` by 255/24, truncates to uint8 and looks it up in
OpenCV's viridis colour map, with the canvas painted in the colour of 0 rather than black
(:data:`PALETTE`).

Which part a mesh face belongs to:

- **real SMPL**: DensePose's own SMPL correspondence, ``UV_Processed.mat`` (in
  ``densepose_uv_data.tar.gz``, :data:`DENSEPOSE_UV_URL`): ``All_FaceIndices`` (the part of each
  face of DensePose's mesh), ``All_Faces`` (those faces, 1-based into DensePose's vertices) and
  ``All_vertices`` (the SMPL vertex behind each DensePose vertex, 1-based; DensePose's mesh is
  SMPL cut along the chart seams). It is derived from SMPL and cannot be shipped or downloaded
  here: the user names it (:data:`UV_ENV`). Read with ``scipy.io.loadmat`` (no pickles).
- **the mannequin and SMPL-X** (no published correspondence): the face's dominant skinning
  joint (SMPL labels 0..23) through :data:`JOINT_PARTS`, the left/right halves of the head by
  the rest-pose side, and the front/back chart of the torso and limbs by whether the face looks
  forward (+z) in the rest pose. This is an approximation of DensePose's charts: left/right and
  the limb segment are exact, the chart boundaries are not. The torso and leg fronts (2, 9, 10,
  13, 14) were checked on the release's front-facing driving videos; which arm chart is the
  front could not be told from them, so 15/16 and 19/20 are taken as the forward halves.

Everything here is pure numpy except :func:`read_uv_correspondence` (reads the file) and
:func:`body_face_parts` (poses the body model once, in the rest pose).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BodyModelError

NUM_PARTS = 24
UV_ENV = "AMG_BENCH_DENSEPOSE_UV"
DENSEPOSE_UV_URL = "https://dl.fbaipublicfiles.com/densepose/densepose_uv_data.tar.gz"
UV_FILE = "UV_Processed.mat"

#: DensePose part index -> name (0 is the background).
PART_NAMES = {
    0: "background",
    1: "torso, back",
    2: "torso, front",
    3: "right hand",
    4: "left hand",
    5: "left foot",
    6: "right foot",
    7: "right upper leg, back",
    8: "left upper leg, back",
    9: "right upper leg, front",
    10: "left upper leg, front",
    11: "right lower leg, back",
    12: "left lower leg, back",
    13: "right lower leg, front",
    14: "left lower leg, front",
    15: "left upper arm, chart 15",
    16: "right upper arm, chart 16",
    17: "left upper arm, chart 17",
    18: "right upper arm, chart 18",
    19: "left lower arm, chart 19",
    20: "right lower arm, chart 20",
    21: "left lower arm, chart 21",
    22: "right lower arm, chart 22",
    23: "head, right",
    24: "head, left",
}

#: RGB colour of part index I (row I; row 0 the background): OpenCV's COLORMAP_VIRIDIS at
#: floor(I * 255 / 24), i.e. at 0, 10, 21, 31, ..., 244, 255.
PALETTE = np.array(
    [(68, 1, 84), (71, 16, 99), (72, 31, 112), (71, 44, 122), (68, 57, 131), (64, 70, 136), (59, 81, 139),
     (54, 93, 141), (49, 104, 142), (44, 113, 142), (40, 124, 142), (37, 133, 142), (33, 144, 141),
     (31, 154, 138), (32, 163, 134), (39, 173, 129), (53, 183, 121), (70, 192, 111), (92, 200, 99),
     (115, 208, 86), (142, 214, 69), (170, 220, 50), (197, 224, 33), (226, 228, 24), (253, 231, 37)],
    dtype=np.uint8,
)  # fmt: skip
BACKGROUND = PALETTE[0]

#: SMPL skinning joint (0..23) -> DensePose part: ``(front, back)`` charts, ``("head",)`` for the
#: head split into its right (23) and left (24) halves, or a single part.
JOINT_PARTS: dict[int, tuple] = {
    0: (2, 1), 3: (2, 1), 6: (2, 1), 9: (2, 1), 13: (2, 1), 14: (2, 1),  # pelvis, spine 1-3, collars: torso
    12: ("head",), 15: ("head",),  # neck and head: DensePose's head charts reach down to the shoulders
    1: (10, 8), 2: (9, 7),  # hips: upper legs (left, right)
    4: (14, 12), 5: (13, 11),  # knees: lower legs
    7: (5,), 10: (5,), 8: (6,), 11: (6,),  # ankles and toes: feet (left, right)
    16: (15, 17), 17: (16, 18),  # shoulders: upper arms
    18: (19, 21), 19: (20, 22),  # elbows: lower arms
    20: (4,), 22: (4,), 21: (3,), 23: (3,),  # wrists and fingers: hands (left, right)
}  # fmt: skip


@dataclass(frozen=True)
class FaceParts:
    """The DensePose part of every face of a body model, and where the assignment came from.

    Attributes:
        labels: (F,) int64 part index 1..24 per face of ``body.faces``.
        source: one sentence for the dataset card.
    """

    labels: np.ndarray
    source: str


def parts_from_joints(face_joints: np.ndarray, facing_forward: np.ndarray, on_left: np.ndarray) -> np.ndarray:
    """DensePose part of each face from its skinning joint and its rest-pose orientation.

    Args:
        face_joints: (F,) SMPL joint label 0..23 of each face.
        facing_forward: (F,) bool, the face's rest-pose normal points forward (+z).
        on_left: (F,) bool, the face's rest-pose centre is on the body's left (+x in SMPL).

    Returns:
        (F,) int64 parts 1..24 (:data:`JOINT_PARTS`).

    >>> parts_from_joints(np.array([0, 0, 15, 15, 21]), np.array([1, 0, 1, 1, 0], bool), np.array([0, 0, 0, 1, 0], bool))
    array([ 2,  1, 23, 24,  3])
    """
    face_joints = np.asarray(face_joints, dtype=np.int64)
    facing_forward, on_left = np.asarray(facing_forward, bool), np.asarray(on_left, bool)
    labels = np.zeros(len(face_joints), dtype=np.int64)
    for joint, parts in JOINT_PARTS.items():
        mine = face_joints == joint
        if parts == ("head",):
            labels[mine] = np.where(on_left[mine], 24, 23)
        elif len(parts) == 2:
            labels[mine] = np.where(facing_forward[mine], parts[0], parts[1])
        else:
            labels[mine] = parts[0]
    if (labels == 0).any():
        bad = sorted(set(face_joints[labels == 0].tolist()))
        raise BodyModelError(f"skinning joint labels {bad} are not SMPL joints 0..23")
    return labels


def face_joints_from_vertices(faces: np.ndarray, vertex_joints: np.ndarray) -> np.ndarray:
    """(F,) joint label of each face: the label most of its three vertices share (the first vertex's on a tie)."""
    corners = np.asarray(vertex_joints)[np.asarray(faces)]
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    return np.where((b == c) & (a != b), b, a)


def rest_orientation(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(facing_forward, on_left)`` of every face of a rest-pose mesh (y up, facing +z, left +x).

    Faces must be wound outwards (counter-clockwise seen from outside), as SMPL's and the
    mannequin's are.
    """
    corners = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return normal[:, 2] > 0, corners.mean(axis=1)[:, 0] > 0


def smpl_face_parts(body_faces: np.ndarray, dp_faces: np.ndarray, dp_parts: np.ndarray) -> np.ndarray:
    """Part of each body face from DensePose's faces given in body vertex indices.

    Args:
        body_faces: (F, 3) the body model's faces.
        dp_faces: (N, 3) DensePose's faces, already mapped to body vertex indices.
        dp_parts: (N,) their parts 1..24.

    Returns:
        (F,) int64 parts; a body face DensePose lacks takes the part most DensePose faces
        around its vertices have.

    Raises:
        BodyModelError: the two meshes do not match (a DensePose face is no body face, or more
            than 1% of the body faces have no counterpart).
    """
    body_faces, dp_faces = np.asarray(body_faces, np.int64), np.asarray(dp_faces, np.int64)
    dp_parts = np.asarray(dp_parts, np.int64)
    if dp_parts.min(initial=1) < 1 or dp_parts.max(initial=1) > NUM_PARTS:
        raise BodyModelError(f"DensePose part indices must lie in 1..{NUM_PARTS}")
    n_vertices = int(body_faces.max()) + 1
    if dp_faces.size and (dp_faces.min() < 0 or dp_faces.max() >= n_vertices):
        raise BodyModelError(f"the DensePose correspondence indexes vertices beyond the body model's {n_vertices}")

    def keys(faces: np.ndarray) -> np.ndarray:
        ordered = np.sort(faces, axis=1)
        return (ordered[:, 0] * n_vertices + ordered[:, 1]) * n_vertices + ordered[:, 2]

    body_keys, dp_keys = keys(body_faces), keys(dp_faces)
    order = np.argsort(body_keys)
    slot = np.searchsorted(body_keys[order], dp_keys)
    found = (slot < len(order)) & (body_keys[order][np.minimum(slot, len(order) - 1)] == dp_keys)
    if not found.all():
        raise BodyModelError(
            f"{int((~found).sum())} DensePose faces are no face of this body model: the correspondence is for "
            "SMPL's 6890-vertex mesh"
        )
    labels = np.zeros(len(body_faces), dtype=np.int64)
    labels[order[slot]] = dp_parts
    missing = np.flatnonzero(labels == 0)
    if len(missing) > 0.01 * len(body_faces):
        raise BodyModelError(
            f"{len(missing)} of {len(body_faces)} body faces have no DensePose face: the correspondence is for "
            "SMPL's 6890-vertex mesh"
        )
    if len(missing):
        votes = np.zeros((n_vertices, NUM_PARTS + 1), dtype=np.int64)
        np.add.at(votes, (dp_faces.ravel(), np.repeat(dp_parts, 3)), 1)
        labels[missing] = votes[body_faces[missing]].sum(axis=1)[:, 1:].argmax(axis=1) + 1
    return labels


def read_uv_correspondence(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """DensePose's faces in SMPL vertex indices and their parts, from ``UV_Processed.mat``.

    Returns:
        ``(faces (N, 3) int64, parts (N,) int64)``: ``All_vertices[All_Faces - 1] - 1`` and
        ``All_FaceIndices``.

    Raises:
        BodyModelError: the file is missing (naming the download), unreadable, or lacks a field.
    """
    from scipy.io import loadmat

    path = Path(path).expanduser()
    if not path.is_file():
        raise BodyModelError(missing_uv_message(path))
    try:
        data = loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError... on a bad file
        raise BodyModelError(f"DensePose correspondence {path} is not a readable .mat file: {exc}") from exc
    lacking = [k for k in ("All_FaceIndices", "All_Faces", "All_vertices") if k not in data]
    if lacking:
        raise BodyModelError(f"DensePose correspondence {path} lacks {lacking}; expected DensePose's {UV_FILE}")
    dp_faces = np.asarray(data["All_Faces"]).astype(np.int64) - 1
    to_smpl = np.asarray(data["All_vertices"]).astype(np.int64).ravel() - 1
    parts = np.asarray(data["All_FaceIndices"]).astype(np.int64).ravel()
    if dp_faces.ndim != 2 or dp_faces.shape[1] != 3 or len(parts) != len(dp_faces):
        raise BodyModelError(
            f"DensePose correspondence {path}: All_Faces must be (N, 3) with N = len(All_FaceIndices), got "
            f"{dp_faces.shape} and {parts.shape}"
        )
    if dp_faces.size and (dp_faces.min() < 0 or dp_faces.max() >= len(to_smpl)):
        raise BodyModelError(f"DensePose correspondence {path}: All_Faces index beyond All_vertices")
    return to_smpl[dp_faces], parts


def missing_uv_message(path: Path | None) -> str:
    where = f"{path} does not exist" if path is not None else f"no DensePose correspondence was named (${UV_ENV})"
    return (
        f"{where}. Rendering pose_video for a real SMPL body needs DensePose's SMPL correspondence {UV_FILE}, "
        f"which cannot be shipped with this package: download {DENSEPOSE_UV_URL} (DensePose, "
        "facebookresearch/DensePose, under its licence), extract it, and set "
        f"{UV_ENV}=/path/to/{UV_FILE}; or give each source a DensePose video (manifest key pose_video)"
    )


_CACHE: dict[tuple, FaceParts] = {}


def body_face_parts(body, uv_path: str | os.PathLike | None = None) -> FaceParts:
    """The DensePose part of every face of ``body`` (a :class:`~amg_bench.data.body_model.BodyModel`).

    Real SMPL reads DensePose's correspondence from ``uv_path`` (default ``$AMG_BENCH_DENSEPOSE_UV``);
    the mannequin and SMPL-X use the skinning-joint mapping. Results are cached per model file.

    Raises:
        BodyModelError: SMPL without a correspondence file (naming the download), or a file that
            does not fit the model.
    """
    if uv_path is None and os.environ.get(UV_ENV):
        uv_path = os.environ[UV_ENV]
    uv = Path(uv_path).expanduser() if uv_path is not None and body.kind == "smpl" else None
    stamp = (uv.stat().st_mtime_ns if uv.is_file() else None) if uv is not None else None
    key = (body.kind, str(body.path), len(body.faces), str(uv), stamp)
    if key in _CACHE:
        return _CACHE[key]
    if body.kind == "smpl":
        if uv is None:
            raise BodyModelError(missing_uv_message(None))
        dp_faces, dp_parts = read_uv_correspondence(uv)
        labels = smpl_face_parts(body.faces, dp_faces, dp_parts)
        digest = hashlib.sha256(uv.read_bytes()).hexdigest()[:16]
        source = f"DensePose's SMPL correspondence (`{UV_FILE}`, sha256 {digest}...)"
    else:
        zeros = np.zeros((1, 3), np.float32)
        rest, _ = body.forward(zeros, np.zeros((1, 69), np.float32), np.zeros((1, body.num_betas), np.float32), zeros)
        forward, left = rest_orientation(rest[0], body.faces)
        labels = parts_from_joints(face_joints_from_vertices(body.faces, body.part_labels), forward, left)
        source = (
            f"the `{body.kind}` body model's dominant skinning joint of each face (SMPL joint -> DensePose part, "
            "front/back charts by the rest-pose facing): an approximation of DensePose's charts"
        )
    parts = FaceParts(labels=labels, source=source)
    _CACHE[key] = parts
    return parts


def describe_convention() -> str:
    """One sentence on the colours, for the dataset card."""
    return (
        "DensePose fine segmentation: every body pixel is its part index I (1..24) drawn flat in OpenCV's "
        "viridis colour at floor(I * 255 / 24), on the colour of index 0 (RGB 68, 1, 84), as in MagicAnimate's "
        "DensePose driving videos"
    )
