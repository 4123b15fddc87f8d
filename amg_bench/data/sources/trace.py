"""TRACE results -> the package's motion format (one person per track, validity per frame).

TRACE (Sun et al., CVPR 2023; code in Arthur151/ROMP, ``simple_romp/trace2``) saves one
``.npz`` per video, written with ``np.savez(path, outputs=<dict>, imgpaths=<list>)``: ``outputs``
is a pickled dict, read with ``np.load(path, allow_pickle=True)["outputs"].item()``. It holds
one row per (frame, track) detection; a frame without a detection has no row. The facts this
module relies on, checked against the released code:

* ``reorganize_idx`` (N,): the row's frame index in the video; ``track_ids`` (N,).
* ``smpl_thetas`` (N, 72): SMPL axis-angle, root first, in the camera frame (the mesh is
  projected with no axis change, so OpenCV axes: x right, y down, z forward). TRACE predicts 21
  body joints; the two hand joints are zero. ``smpl_betas`` (N, 10).
* ``cam_trans`` (N, 3): TRACE root-aligns its SMPL output on the midpoint of joints 35 and 36
  of its 44-joint layout (``R_Hip`` and ``L_Hip``: LSP-style hips regressed from the vertices,
  not SMPL's hip joints 1 and 2) and adds ``cam_trans``, so ``cam_trans`` is that midpoint's
  position in the camera frame, in metres.
* ``j3d`` (N, 44, 3): the 44 joints, root-aligned the same way (kept in the saved file), so
  ``cam_trans + j3d[:, 0]`` is SMPL's pelvis in the camera frame.
* ``pj2d_org`` (N, 44, 2): the joints projected into the original frame. TRACE pads a frame to
  a square of side ``S = max(H, W)``, works at 512 pixels with a 548-pixel focal length, and
  maps back, which is a pinhole camera with ``f = 548 S / 512`` and the principal point at the
  image centre ``(W / 2, H / 2)``.
* ``world_global_rots`` (N, 3) and ``world_trans`` (N, 3): the same body in TRACE's world
  frame. TRACE poses its SMPL with ``world_global_rots`` as the root rotation (and the same
  body pose and betas), root-aligns it on the same hip midpoint, and places that midpoint at
  ``world_trans`` - computed from ``world_cams``, the track's camera-frame translation of its
  first frame plus the accumulated predicted camera motion. So TRACE's world is the camera
  frame at the track's first frame (OpenCV axes), one world per track.
* ``center_confs`` (N,) or (N, 1): the detection's centre-map score. TRACE fills the frames of
  an occluded subject from memory, with a low score, so those rows still exist.

Placement: SMPL's ``transl`` moves the posed body whose pelvis sits at the shaped rest pelvis
``J_0(betas)``. So ``transl = pelvis_world - J_0(betas)``, with the pelvis taken from
``cam_trans + j3d[:, 0]`` - exact for TRACE's own SMPL body. Files without ``j3d`` fall back
to the body model's own hips (SMPL joints 1, 2) standing in for TRACE's 35, 36:
``pelvis = cam_trans - R_root (mean(J_1, J_2) - J_0)``, off by the few centimetres between
the two hip definitions for real SMPL.

World frame and camera: every body is placed from its camera-frame outputs through the frame's
world-to-camera extrinsics ``(R_cw, t_cw)``: ``R_world = R_cw^T R_cam`` and
``p_world = R_cw^T (p_cam - t_cw)``, so a render through the same extrinsics shows exactly the
camera-frame body TRACE fitted to the image, however the extrinsics were found. They are, in
order of precedence: given per frame (``--extrinsics``); derived from TRACE's own world and
camera outputs (the default when the file has them); or the identity (a static camera whose
frame is the world). Derived: a row's body is the same rigid body in both frames, so
``R_cw = R_cam R_world^T`` and ``t_cw = p_cam - R_cw p_world`` (both ``p`` the hip midpoint) is
the camera of that frame in that track's world. The kept tracks' worlds (each the camera frame
at the track's first frame; merged tracks keep their own) are brought into the first track's
world by the mean transform over the frames they share with the tracks already aligned (or,
without a shared frame, the camera interpolated at the track's first frame); a frame's camera
is the mean (rotation mean, translation mean) over its tracks; frames with nobody take the camera interpolated between
their neighbours (held at the ends). With one world and one camera per frame, ``transl`` is a
trajectory in a fixed world and the extrinsics move with the camera.

The mannequin (or SMPL-X) posed with TRACE's SMPL parameters is an approximation of TRACE's
body: the pelvis, root rotation and joint rotations are TRACE's. TRACE's betas are SMPL shape
coefficients, which mean something else to the mannequin (its beta 0 is a stature scale of 6%
per unit, :data:`~amg_bench.data.body_model.MANNEQUIN_BETAS`), so the mannequin does not take
them: its stature is fitted from TRACE's joints instead (beta 0 such that the mannequin's summed
leg and spine bone lengths, :func:`~amg_bench.data.body_model.stature_length`, equal the median
of TRACE's ``j3d`` SMPL joints over the person's rows; the other betas 0), and with no ``j3d``
in the file its betas are all 0. SMPL and SMPL-X take the per-coefficient median of TRACE's
betas (SMPL-X reads them in its own shape space). The motion records the model used, and the
builder poses it with no other.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import MotionError
from ..motion import Motion, save_motion
from ..windows import WindowSpec, valid_starts

#: Bounds of the fitted mannequin stature beta: 1.69 m x (1 + 0.06 b) spans 0.88 m to 2.10 m.
STATURE_BETA_RANGE = (-8.0, 4.0)
TRACE_FOCAL = 548.0
TRACE_INPUT_SIZE = 512.0
R_HIP_44, L_HIP_44 = 35, 36  # TRACE's 44-joint layout: cam_trans is the midpoint of these two
PELVIS = 0
REQUIRED_KEYS = ("reorganize_idx", "track_ids", "smpl_thetas", "smpl_betas", "cam_trans", "pj2d_org")
WORLD_KEYS = ("world_global_rots", "world_trans")
CAMERAS = ("auto", "trace", "static")
RANK_BY = ("frames", "size")
# pj2d_org must agree with cam_trans projected by the TRACE camera to this share of max(H, W).
PROJECTION_TOLERANCE = 0.02


@dataclass
class TraceRows:
    """The rows of a TRACE results file, checked for shape (float64 arrays, N rows).

    ``j3d``, ``world_rots`` / ``world_trans`` and ``center_confs`` are None when the file lacks
    them; ``num_frames_seen`` is the number of frames TRACE ran on (``len(imgpaths)``), None when
    the file does not say.
    """

    frame: np.ndarray  # (N,) int64
    track: np.ndarray  # (N,) int64
    thetas: np.ndarray  # (N, 72)
    betas: np.ndarray  # (N, B)
    cam_trans: np.ndarray  # (N, 3)
    pj2d: np.ndarray  # (N, 44, 2)
    j3d: np.ndarray | None = None  # (N, 44, 3)
    world_rots: np.ndarray | None = None  # (N, 3) axis-angle root in TRACE's world
    world_trans: np.ndarray | None = None  # (N, 3) hip midpoint in TRACE's world
    center_confs: np.ndarray | None = None  # (N,)
    num_frames_seen: int | None = None
    path: str = "<trace>"

    def __len__(self) -> int:
        return len(self.frame)


def read_trace_results(path: str | os.PathLike) -> TraceRows:
    """Read a TRACE results file.

    The file is a pickle inside an npz: this is the only place the package unpickles it, and
    it must be called only with a path the user named (never a downloaded file).

    Raises:
        MotionError: missing or unreadable file, another layout (naming the missing keys), or
            arrays of the wrong shape.
    """
    from ...readers import check_npz_file

    path = check_npz_file(path, "TRACE results file", MotionError)
    try:
        with np.load(path, allow_pickle=True) as data:  # the user named this file
            names = list(data.files)
            if "outputs" not in names:
                raise MotionError(
                    f"TRACE results file {path} has no 'outputs' entry (it holds {names}); "
                    "TRACE writes np.savez(<video>.npz, outputs=..., imgpaths=...)"
                )
            outputs = data["outputs"]
            imgpaths = data["imgpaths"] if "imgpaths" in names else None
    except MotionError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ModuleNotFoundError) as exc:
        raise MotionError(f"TRACE results file {path} is not a readable npz: {exc}") from exc
    if isinstance(outputs, np.ndarray) and outputs.dtype == object and outputs.ndim == 0:
        outputs = outputs.item()
    if not isinstance(outputs, dict):
        raise MotionError(f"TRACE results file {path}: 'outputs' holds a {type(outputs).__name__}, not a dict")
    missing = [key for key in REQUIRED_KEYS if key not in outputs]
    if missing:
        raise MotionError(
            f"TRACE results file {path} is of another layout: 'outputs' misses {missing} "
            f"(it holds {sorted(map(str, outputs))})"
        )
    n = int(np.size(outputs["reorganize_idx"]))
    if n == 0:
        raise MotionError(f"TRACE results file {path} holds no detection")

    def array(key: str, *shape: int) -> np.ndarray:
        try:
            value = np.asarray(outputs[key], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MotionError(f"TRACE results file {path}: '{key}' is not numeric: {exc}") from exc
        if key == "smpl_betas" and value.ndim == 2 and len(value) == n and value.shape[1] >= 1:
            return value  # 10 for TRACE; accept other counts (e.g. BEV's 11)
        if value.shape != (n, *shape):
            raise MotionError(f"TRACE results file {path}: '{key}' has shape {value.shape}, expected {(n, *shape)}")
        return value

    world = {}
    if all(key in outputs for key in WORLD_KEYS):
        world = {"world_rots": array("world_global_rots", 3), "world_trans": array("world_trans", 3)}
    confs = None
    if "center_confs" in outputs:
        confs = np.asarray(outputs["center_confs"], dtype=np.float64)
        if confs.shape not in ((n,), (n, 1)):
            raise MotionError(f"TRACE results file {path}: 'center_confs' has shape {confs.shape}, expected ({n},)")
        confs = confs.reshape(n)
    ids = {}
    for key in ("reorganize_idx", "track_ids"):
        values = array(key)
        if not np.isfinite(values).all() or (values != np.round(values)).any() or (values < 0).any():
            raise MotionError(f"TRACE results file {path}: '{key}' must hold non-negative integers")
        ids[key] = values.astype(np.int64)
    return TraceRows(
        frame=ids["reorganize_idx"],
        track=ids["track_ids"],
        thetas=array("smpl_thetas", 72),
        betas=array("smpl_betas"),
        cam_trans=array("cam_trans", 3),
        pj2d=array("pj2d_org", 44, 2),
        j3d=array("j3d", 44, 3) if "j3d" in outputs else None,
        **world,
        center_confs=confs,
        num_frames_seen=int(np.size(imgpaths)) if imgpaths is not None else None,
        path=str(path),
    )


# ---------------------------------------------------------------------------------------------
# Tracks -> persons (pure)
# ---------------------------------------------------------------------------------------------


@dataclass
class TrackSummary:
    """What the import made of one person (or of a dropped track)."""

    person_id: str
    track_ids: tuple[int, ...]
    frames: int
    first: int
    last: int
    gaps: list[tuple[int, int]] = field(default_factory=list)  # inclusive ranges without a row
    windows: int = 0  # window starts at which this person alone fills all sampled frames
    kept: bool = True
    reason: str = ""
    low_confidence: int = 0  # rows dropped by --min-center-conf

    def describe(self, windows: WindowSpec) -> str:
        tracks = "+".join(map(str, self.track_ids))
        gaps = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in self.gaps[:8])
        gaps += " ..." if len(self.gaps) > 8 else ""
        text = (
            f"{self.person_id} (TRACE track {tracks}): {self.frames} frames tracked in {self.first}-{self.last}, "
            f"{len(self.gaps)} gap(s){': ' + gaps if gaps else ''}; fills {self.windows} window(s)"
        )
        if self.low_confidence:
            text += f"; {self.low_confidence} row(s) below --min-center-conf dropped"
        if not self.kept:
            return f"dropped {text} [{self.reason}]"
        if self.windows == 0 and self.frames < windows.span:
            text += (
                f" [shorter than one {windows.span}-frame window: in no clip, and it drops every window it "
                f"overlaps; --min-frames {windows.span} drops it]"
            )
        elif self.windows == 0:
            text += " [its gaps leave it no complete window: it drops every window it overlaps]"
        return text


def _gaps(frames: np.ndarray) -> list[tuple[int, int]]:
    jumps = np.flatnonzero(np.diff(frames) > 1)
    return [(int(frames[i] + 1), int(frames[i + 1] - 1)) for i in jumps]


def _merge_groups(tracks: np.ndarray, merge: Sequence[Sequence[int]], where: str) -> dict[int, tuple[int, ...]]:
    """Map every track id to the sorted group of ids that form its person."""
    present = set(int(t) for t in np.unique(tracks))
    group_of = {t: (t,) for t in present}
    seen: dict[int, int] = {}
    for index, group in enumerate(merge):
        ids = tuple(sorted(set(int(t) for t in group)))
        if len(ids) < 2:
            raise MotionError(f"{where}: merge group {list(group)} needs at least two track ids")
        for t in ids:
            if t not in present:
                raise MotionError(
                    f"{where}: merge group {list(group)} names track id {t}, which is not in the file "
                    f"(track ids: {sorted(present)})"
                )
            if t in seen:
                raise MotionError(f"{where}: track id {t} is in two merge groups")
            seen[t] = index
            group_of[t] = ids
    return group_of


def _box_area(pj2d: np.ndarray) -> np.ndarray:
    size = np.nanmax(pj2d, axis=1) - np.nanmin(pj2d, axis=1)
    return size[:, 0] * size[:, 1]


@dataclass
class PersonRows:
    """One person: its id, the TRACE track ids merged into it, and its rows in frame order."""

    person_id: str
    track_ids: tuple[int, ...]
    rows: np.ndarray  # row indices sorted by frame


def assign_people(
    rows: TraceRows,
    num_frames: int,
    merge: Sequence[Sequence[int]] = (),
    keep: int | None = None,
    rank_by: str = "frames",
    min_frames: int = 0,
    windows: WindowSpec = WindowSpec(),
    min_center_conf: float | None = None,
) -> tuple[list[PersonRows], list[TrackSummary]]:
    """Group usable rows into persons, rank and filter them.

    A row is usable when its parameters are finite, ``cam_trans`` is in front of the camera
    and, with ``min_center_conf``, its ``center_confs`` reaches that threshold (TRACE keeps an
    occluded subject's frames, filled from memory with a low score; dropping them lets the
    lost-subject rule drop those windows). Persons are ordered by first frame (then track id). ``keep`` keeps the ``keep``
    persons with the most frames (``rank_by="frames"``) or the largest median 2D keypoint
    box (``"size"``), after ``min_frames`` drops the shorter ones.

    Raises:
        MotionError: bad options, a merge naming unknown ids, two rows of one person in the
            same frame, frame indices beyond the video, a threshold for a file without
            ``center_confs``, or no person left.
    """
    where = f"TRACE results file {rows.path}"
    if min_center_conf is not None and rows.center_confs is None:
        raise MotionError(f"{where} has no 'center_confs', so --min-center-conf cannot be applied")
    if rank_by not in RANK_BY:
        raise MotionError(f"rank_by must be one of {RANK_BY}, got {rank_by!r}")
    if keep is not None and keep < 1:
        raise MotionError(f"keep must be >= 1, got {keep}")
    beyond = rows.frame >= num_frames
    if beyond.any():
        raise MotionError(
            f"{where} has detections at frame indices up to {int(rows.frame.max())}, beyond the "
            f"video's {num_frames} frames (frames 0-{num_frames - 1}): was TRACE run on another "
            "video, or on this one at another frame rate?"
        )
    usable = (
        np.isfinite(rows.thetas).all(1)
        & np.isfinite(rows.betas).all(1)
        & np.isfinite(rows.cam_trans).all(1)
        & (rows.cam_trans[:, 2] > 0)
    )
    if rows.j3d is not None:
        usable &= np.isfinite(rows.j3d[:, PELVIS]).all(1)
    confident = np.ones(len(rows), dtype=bool)
    if min_center_conf is not None:
        confident = rows.center_confs >= min_center_conf
    low = usable & ~confident
    usable &= confident
    group_of = _merge_groups(rows.track, merge, where)
    people: list[PersonRows] = []
    for ids in sorted(set(group_of.values())):
        mine = np.flatnonzero(np.isin(rows.track, ids) & usable)
        if not len(mine):
            continue
        mine = mine[np.argsort(rows.frame[mine], kind="stable")]
        frames = rows.frame[mine]
        doubled = frames[1:][np.diff(frames) == 0]
        if len(doubled):
            hint = ": they are different people, do not merge them" if len(ids) > 1 else ""
            raise MotionError(
                f"{where}: track(s) {'+'.join(map(str, ids))} have two detections at frame {int(doubled[0])}{hint}"
            )
        people.append(PersonRows("track" + "+".join(map(str, ids)), ids, mine))
    if not people:
        raise MotionError(f"{where} holds no usable detection (non-finite values or cam_trans behind the camera)")
    people.sort(key=lambda p: (int(rows.frame[p.rows[0]]), p.track_ids))

    summaries = {}
    for person in people:
        frames = rows.frame[person.rows]
        mask = np.zeros((1, num_frames), dtype=bool)
        mask[0, frames] = True
        summaries[person.person_id] = TrackSummary(
            person.person_id,
            person.track_ids,
            len(frames),
            int(frames[0]),
            int(frames[-1]),
            _gaps(frames),
            len(valid_starts(mask, num_frames, windows)),
            low_confidence=int(low[np.isin(rows.track, person.track_ids)].sum()),
        )
    kept = [p for p in people if len(p.rows) >= min_frames]
    for person in people:
        if len(person.rows) < min_frames:
            summaries[person.person_id].kept = False
            summaries[person.person_id].reason = f"fewer than --min-frames {min_frames}"
    if keep is not None and len(kept) > keep:
        score = (
            {p.person_id: len(p.rows) for p in kept}
            if rank_by == "frames"
            else {p.person_id: float(np.median(_box_area(rows.pj2d[p.rows]))) for p in kept}
        )
        best = set(sorted(score, key=lambda pid: -score[pid])[:keep])
        for person in kept:
            if person.person_id not in best:
                summaries[person.person_id].kept = False
                ranking = "longest" if rank_by == "frames" else "largest"
                summaries[person.person_id].reason = f"not among the {keep} {ranking}"
        kept = [p for p in kept if p.person_id in best]
    if not kept:
        raise MotionError(f"{where}: no track is left after --min-frames {min_frames}")
    return kept, [summaries[p.person_id] for p in people]


# ---------------------------------------------------------------------------------------------
# Placement (maths on arrays)
# ---------------------------------------------------------------------------------------------


def trace_intrinsics(height: int, width: int) -> np.ndarray:
    """(3, 3) float32 ``K`` of TRACE's camera: ``f = 548 max(H, W) / 512``, centre ``(W/2, H/2)``."""
    focal = TRACE_FOCAL * max(height, width) / TRACE_INPUT_SIZE
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float32)


def check_projection(rows: TraceRows, intrinsics: np.ndarray, image_size: tuple[int, int]) -> float:
    """Median pixel distance between ``cam_trans`` projected and the 2D hip midpoint.

    Raises:
        MotionError: above ``PROJECTION_TOLERANCE * max(H, W)``: the file was made from a video
            of another size (or by another camera model).
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    front = rows.cam_trans[:, 2] > 0
    t = rows.cam_trans[front]
    uv = t[:, :2] / t[:, 2:] * k[[0, 1], [0, 1]] + k[:2, 2]
    hips = rows.pj2d[front][:, [R_HIP_44, L_HIP_44]].mean(axis=1)
    distance = np.linalg.norm(uv - hips, axis=1)
    distance = distance[np.isfinite(distance)]
    error = float(np.median(distance)) if len(distance) else 0.0
    height, width = image_size
    if error > PROJECTION_TOLERANCE * max(height, width):
        raise MotionError(
            f"TRACE results file {rows.path}: its 2D hips (pj2d_org) lie {error:.1f} px (median) from cam_trans "
            f"projected with TRACE's camera for a {height}x{width} video (f = {k[0, 0]:.1f}): was it made from "
            "another video?"
        )
    return error


def place_person(
    thetas: np.ndarray,
    cam_trans: np.ndarray,
    pelvis_from_hips: np.ndarray | None,
    rest_joints: np.ndarray,
    world_to_camera: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """World ``global_orient`` and SMPL ``transl`` of rows of one person.

    Args:
        thetas: (n, 72) TRACE axis-angle, camera-frame root.
        cam_trans: (n, 3) camera-frame hip midpoint.
        pelvis_from_hips: (n, 3) pelvis minus hip midpoint, camera frame (TRACE's ``j3d[:, 0]``),
            or None to use the body model's hips.
        rest_joints: (24, 3) shaped rest joints of the body model for this person's betas.
        world_to_camera: (n, 4, 4) extrinsics of the rows' frames.

    Returns:
        global_orient (n, 3) and transl (n, 3), float64.
    """
    from scipy.spatial.transform import Rotation

    root_cam = Rotation.from_rotvec(thetas[:, :3])
    if pelvis_from_hips is None:
        hips_rest = rest_joints[1:3].mean(axis=0) - rest_joints[PELVIS]
        pelvis_from_hips = -root_cam.apply(hips_rest)
    rotation = world_to_camera[:, :3, :3]
    root_world = Rotation.from_matrix(np.transpose(rotation, (0, 2, 1))) * root_cam
    pelvis_world = np.einsum("nji,nj->ni", rotation, cam_trans + pelvis_from_hips - world_to_camera[:, :3, 3])
    return root_world.as_rotvec(), pelvis_world - rest_joints[PELVIS]


@dataclass
class CameraEstimate:
    """World-to-camera extrinsics derived from TRACE's world and camera outputs.

    ``spread_degrees`` / ``spread_metres``: over frames seen by two or more persons, the median
    of the largest disagreement between one person's camera and the frame's mean camera (0
    when every frame has one person): how consistently TRACE moved the camera for everybody.
    """

    extrinsics: np.ndarray  # (F, 4, 4) float64
    spread_degrees: float
    spread_metres: float
    estimated_frames: int  # frames with at least one person (the others are interpolated)


def trace_cameras(rows: TraceRows, people: Sequence[PersonRows], num_frames: int) -> CameraEstimate:
    """One world-to-camera transform per video frame, in the TRACE world of the first track.

    For a row, ``R_cw = R_cam R_world^T`` and ``t_cw = p_cam - R_cw p_world`` (``R``: the root
    rotations ``smpl_thetas[:3]`` / ``world_global_rots``; ``p``: ``cam_trans`` / ``world_trans``,
    both the hip midpoint). Tracks are taken by first frame (each has its own world, also when
    several were merged into one person); each later track's world is mapped into the world
    built so far by ``A = mean_f C(f)^-1 C_k(f)`` over the frames it shares with it (or at its
    first frame, with the camera interpolated there); a frame's camera is the mean over its
    tracks of ``C_k(f) A_k^-1`` (rotation mean, translation mean).

    Raises:
        MotionError: the file lacks ``world_global_rots`` / ``world_trans``.
    """
    from scipy.spatial.transform import Rotation

    if rows.world_rots is None or rows.world_trans is None:
        raise MotionError(f"TRACE results file {rows.path} has no world outputs ({', '.join(WORLD_KEYS)})")
    tracks = [
        person.rows[rows.track[person.rows] == track] for person in people for track in person.track_ids
    ]  # one TRACE world per track, even when tracks were merged into one person
    tracks = sorted((t for t in tracks if len(t)), key=lambda t: (int(rows.frame[t].min()), int(rows.track[t[0]])))
    per_frame: dict[int, list[tuple[Rotation, np.ndarray]]] = {}
    for mine in tracks:
        r_cam = Rotation.from_rotvec(rows.thetas[mine, :3])
        r_world = Rotation.from_rotvec(rows.world_rots[mine])
        r_cw = r_cam * r_world.inv()
        t_cw = rows.cam_trans[mine] - r_cw.apply(rows.world_trans[mine])
        frames = rows.frame[mine]
        if per_frame:  # bring this track's world into the first track's: A = C_ref^-1 C_k
            known = np.array(sorted(per_frame))
            shared = [i for i, f in enumerate(frames) if int(f) in per_frame] or [0]
            pieces = []
            for i in shared:
                r_ref, t_ref = _camera_at(per_frame, known, int(frames[i]))
                pieces.append((r_ref.inv() * r_cw[i], r_ref.inv().apply(t_cw[i] - t_ref)))
            r_a, t_a = _mean_camera(pieces)
            r_cw = r_cw * r_a.inv()  # C_p A^-1: world_ref -> camera
            t_cw = t_cw - r_cw.apply(t_a)
        for i, frame in enumerate(frames):
            per_frame.setdefault(int(frame), []).append((r_cw[i], t_cw[i]))

    known = np.array(sorted(per_frame))
    means = {frame: _mean_camera(estimates) for frame, estimates in per_frame.items()}
    spreads = [
        (
            max(float(np.degrees((r * means[frame][0].inv()).magnitude())) for r, _ in estimates),
            max(float(np.linalg.norm(t - means[frame][1])) for _, t in estimates),
        )
        for frame, estimates in per_frame.items()
        if len(estimates) > 1
    ]
    extrinsics = np.repeat(np.eye(4)[None], num_frames, axis=0)
    for frame in range(num_frames):
        rotation, translation = means[frame] if frame in means else _camera_at(per_frame, known, frame)
        extrinsics[frame, :3, :3] = rotation.as_matrix()
        extrinsics[frame, :3, 3] = translation
    spread = np.median(np.array(spreads), axis=0) if spreads else (0.0, 0.0)
    return CameraEstimate(extrinsics, float(spread[0]), float(spread[1]), len(per_frame))


def _camera_at(per_frame: dict, known: np.ndarray, frame: int) -> tuple:
    """The mean camera at ``frame``; between estimated frames, interpolated (slerp, lerp); held at the ends."""
    from scipy.spatial.transform import Rotation, Slerp

    if frame in per_frame:
        return _mean_camera(per_frame[frame])
    after = known[known > frame]
    before = known[known < frame]
    if not len(before) or not len(after):
        return _mean_camera(per_frame[int(after[0] if len(after) else before[-1])])
    (r0, t0), (r1, t1) = _mean_camera(per_frame[int(before[-1])]), _mean_camera(per_frame[int(after[0])])
    share = (frame - before[-1]) / (after[0] - before[-1])
    rotation = Slerp([0.0, 1.0], Rotation.concatenate([r0, r1]))([share])[0]
    return rotation, (1 - share) * t0 + share * t1


def _mean_camera(estimates) -> tuple:
    """Rotation mean and translation mean of ``(Rotation, t)`` pairs (one pair returns itself)."""
    from scipy.spatial.transform import Rotation

    if len(estimates) == 1:
        return estimates[0]
    rotations = Rotation.concatenate([r for r, _ in estimates])
    return rotations.mean(), np.mean([t for _, t in estimates], axis=0)


def mannequin_betas(j3d: np.ndarray | None, body) -> np.ndarray:
    """The mannequin's betas for one TRACE person: beta 0 fitted to the stature of TRACE's joints, the rest 0.

    Args:
        j3d: ``(n, 44, 3)`` TRACE joints of the person's rows (the first 24 are SMPL's), or
            ``None`` (the file has none: all betas 0).
        body: the mannequin.

    Beta 0 scales the mannequin about its pelvis, so its bone lengths are the rest ones times
    ``1 + 0.06 beta_0``: ``beta_0 = (median stature length / rest stature length - 1) / 0.06``,
    clipped to :data:`STATURE_BETA_RANGE`.
    """
    from ..body_model import MANNEQUIN_STATURE_PER_BETA, stature_length

    betas = np.zeros(body.num_betas)
    if j3d is None:
        return betas
    lengths = stature_length(np.asarray(j3d, dtype=np.float64)[:, :24])
    lengths = lengths[np.isfinite(lengths)]
    if not len(lengths):
        return betas
    rest = float(stature_length(body.rest_joints(np.zeros((1, body.num_betas))))[0])
    ratio = float(np.median(lengths)) / rest
    betas[0] = np.clip((ratio - 1.0) / MANNEQUIN_STATURE_PER_BETA, *STATURE_BETA_RANGE)
    return betas


def trace_to_motion(
    rows: TraceRows,
    body,
    image_size: tuple[int, int],
    num_frames: int,
    fps: float = 24.0,
    extrinsics: np.ndarray | None = None,
    merge: Sequence[Sequence[int]] = (),
    keep: int | None = None,
    rank_by: str = "frames",
    min_frames: int = 0,
    windows: WindowSpec = WindowSpec(),
    camera: str = "auto",
    min_center_conf: float | None = None,
) -> tuple[Motion, list[TrackSummary]]:
    """Convert TRACE rows into a :class:`Motion` (one person per kept track group).

    SMPL / SMPL-X persons get the per-coefficient median of their rows' betas; the mannequin
    gets :func:`mannequin_betas` (stature from TRACE's joints); frames without a usable row are invalid. ``body`` (a :class:`~amg_bench.data.body_model.BodyModel`) gives the rest
    pelvis (and the hips when the file lacks ``j3d``); its kind is recorded as the motion's
    ``body_model``, since ``transl`` is in its terms. The camera: ``extrinsics`` when given,
    else ``camera="trace"`` derives it from TRACE's world outputs (:func:`trace_cameras`),
    ``"static"`` takes the identity, and ``"auto"`` is ``"trace"`` when the file has world
    outputs, ``"static"`` otherwise.

    Raises:
        MotionError: see :func:`assign_people` and :func:`check_projection`; bad extrinsics,
            an unknown ``camera``, or ``"trace"`` for a file without world outputs.
    """
    motion, summaries, _ = _trace_to_motion(
        rows,
        body,
        image_size,
        num_frames,
        fps,
        extrinsics,
        merge,
        keep,
        rank_by,
        min_frames,
        windows,
        camera,
        min_center_conf,
    )
    return motion, summaries


def _trace_to_motion(
    rows,
    body,
    image_size,
    num_frames,
    fps,
    extrinsics,
    merge,
    keep,
    rank_by,
    min_frames,
    windows,
    camera,
    min_center_conf,
) -> tuple[Motion, list[TrackSummary], CameraEstimate | None]:
    height, width = image_size
    intrinsics = trace_intrinsics(height, width)
    if camera not in CAMERAS:
        raise MotionError(f"camera must be one of {CAMERAS}, got {camera!r}")
    has_world = rows.world_rots is not None and rows.world_trans is not None
    if camera == "trace" and not has_world:
        raise MotionError(
            f"TRACE results file {rows.path} has no world outputs ({', '.join(WORLD_KEYS)}) to derive the camera from"
        )
    people, summaries = assign_people(rows, num_frames, merge, keep, rank_by, min_frames, windows, min_center_conf)
    estimate = None
    if extrinsics is None and has_world and camera in ("auto", "trace"):
        estimate = trace_cameras(rows, people, num_frames)
        extrinsics = estimate.extrinsics
    if extrinsics is None:
        extrinsics = np.repeat(np.eye(4)[None], num_frames, axis=0)
    extrinsics = np.asarray(extrinsics, dtype=np.float64)
    if extrinsics.shape != (num_frames, 4, 4) or not np.isfinite(extrinsics).all():
        raise MotionError(
            f"extrinsics must be finite ({num_frames}, 4, 4) world-to-camera matrices (one per video "
            f"frame), got shape {extrinsics.shape}"
        )
    rotation = extrinsics[:, :3, :3]
    if not np.allclose(rotation @ np.transpose(rotation, (0, 2, 1)), np.eye(3), atol=1e-4):
        raise MotionError("extrinsics: the 3x3 blocks must be rotations (world-to-camera, OpenCV axes)")
    check_projection(rows, intrinsics, image_size)

    n_people = len(people)
    global_orient = np.zeros((n_people, num_frames, 3))
    body_pose = np.zeros((n_people, num_frames, 69))
    transl = np.zeros((n_people, num_frames, 3))
    valid = np.zeros((n_people, num_frames), dtype=bool)
    num_betas = body.num_betas if body.kind == "mannequin" else min(rows.betas.shape[1], body.num_betas)
    betas = np.zeros((n_people, num_betas))
    for index, person in enumerate(people):
        mine = person.rows
        frames = rows.frame[mine]
        if body.kind == "mannequin":
            betas[index] = mannequin_betas(None if rows.j3d is None else rows.j3d[mine], body)
        else:
            betas[index] = np.median(rows.betas[mine, :num_betas], axis=0)
        rest = body.rest_joints(betas[index][None])[0].astype(np.float64)
        orient, shift = place_person(
            rows.thetas[mine],
            rows.cam_trans[mine],
            None if rows.j3d is None else rows.j3d[mine, PELVIS],
            rest,
            extrinsics[frames],
        )
        global_orient[index, frames] = orient
        body_pose[index, frames] = rows.thetas[mine, 3:]
        transl[index, frames] = shift
        valid[index, frames] = True
    motion = Motion(
        global_orient=global_orient,
        body_pose=body_pose,
        betas=betas,
        transl=transl,
        valid=valid,
        intrinsics=intrinsics,
        extrinsics=extrinsics,
        image_size=(height, width),
        fps=fps,
        person_ids=[p.person_id for p in people],
        body_model=body.kind,
    )
    return motion, summaries, estimate


# ---------------------------------------------------------------------------------------------
# The import: files in, motion file out
# ---------------------------------------------------------------------------------------------


@dataclass
class TraceImport:
    """What :func:`import_trace` wrote."""

    out: Path
    motion: Motion
    tracks: list[TrackSummary]
    windows: int  # valid windows of the whole motion
    video_frames: int
    trace_frames: int | None
    body_model: str
    exact_pelvis: bool  # the file had j3d, so TRACE's own pelvis was used
    camera: str = "static"  # "static", "trace" (derived from TRACE's world outputs) or "extrinsics"
    camera_estimate: CameraEstimate | None = None

    def describe_camera(self) -> str:
        if self.camera == "extrinsics":
            return "camera: the given --extrinsics"
        if self.camera == "static" or self.camera_estimate is None:
            return "camera: static (identity extrinsics: the world is the camera's frame)"
        estimate = self.camera_estimate
        return (
            f"camera: derived from TRACE's world outputs ({estimate.estimated_frames} of {self.video_frames} frames "
            f"estimated, the rest interpolated); persons agree within {estimate.spread_degrees:.2f} deg / "
            f"{estimate.spread_metres:.3f} m (median over frames with several persons); --static-camera "
            "ignores TRACE's world outputs"
        )

    def summary(self, spec: WindowSpec = WindowSpec()) -> str:
        lines = [
            f"wrote {self.out}: {self.motion.num_people} person(s), {self.video_frames} frames of "
            f"{self.motion.image_size[0]}x{self.motion.image_size[1]} at {self.motion.fps:g} fps, "
            f"{self.windows} valid window(s); body model '{self.body_model}' "
            f"({'pelvis from TRACE j3d' if self.exact_pelvis else 'hips from the body model: no j3d in the file'})",
        ]
        if self.trace_frames is not None and self.trace_frames != self.video_frames:
            lines.append(f"note: TRACE ran on {self.trace_frames} frames; the video has {self.video_frames}")
        lines.append(self.describe_camera())
        if self.body_model == "mannequin":
            if self.exact_pelvis:
                from ..body_model import MANNEQUIN_STATURE_PER_BETA as PER_BETA

                statures = ", ".join(
                    f"{pid} {1 + PER_BETA * b:.3f}x" for pid, b in zip(self.motion.person_ids, self.motion.betas[:, 0])
                )
                lines.append(
                    "mannequin shape: stature fitted to TRACE's joints (scale of the 1.69 m mannequin: "
                    f"{statures}); TRACE's SMPL betas are not used (they mean something else to the mannequin)"
                )
            else:
                lines.append(
                    "mannequin shape: all betas 0 (no j3d in the file to fit the stature; TRACE's SMPL betas are not used)"
                )
        lines += ["  " + track.describe(spec) for track in self.tracks]
        return "\n".join(lines)


def _load_extrinsics(path: str | os.PathLike) -> np.ndarray:
    path = Path(path)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MotionError(f"extrinsics file {path} is not a readable .npy of plain numbers: {exc}") from exc


def import_trace(
    trace_path: str | os.PathLike,
    video: str | os.PathLike,
    out: str | os.PathLike,
    body_model: str | os.PathLike = "mannequin",
    merge: Sequence[Sequence[int]] = (),
    keep: int | None = None,
    rank_by: str = "frames",
    min_frames: int = 0,
    extrinsics: str | os.PathLike | None = None,
    windows: WindowSpec = WindowSpec(),
    camera: str = "auto",
    min_center_conf: float | None = None,
    overwrite: bool = False,
) -> TraceImport:
    """Convert TRACE's results for ``video`` into a motion file at ``out`` (written atomically).

    Args:
        trace_path: TRACE's ``.npz`` (a pickle: unpickled because you named it).
        video: the video TRACE ran on; gives the frame count, size (for the intrinsics) and fps.
        out: the motion file to write (``.npz``).
        body_model: ``"mannequin"`` or an SMPL / SMPL-X file or folder; the motion is placed
            with its joints and records its kind.
        merge: groups of track ids that are one person (TRACE gives a re-appearing person a
            new id).
        keep: keep only this many persons, ranked by ``rank_by`` (``"frames"``: the longest
            tracks, ``"size"``: the largest median 2D box).
        min_frames: drop persons tracked in fewer frames.
        extrinsics: ``.npy`` of (F, 4, 4) world-to-camera matrices (OpenCV axes) for a moving
            camera; they win over ``camera``.
        camera: ``"auto"`` (derive the camera from TRACE's world outputs when the file has
            them, else static), ``"trace"`` (derive it, the file must have them) or
            ``"static"`` (identity: the world is the camera's frame).
        min_center_conf: drop rows whose ``center_confs`` is below this (TRACE's frames filled
            from memory for an occluded subject), so the lost-subject rule can drop their windows.
        overwrite: replace an existing ``out``.

    Raises:
        VideoError: the video does not run at ``windows.source_fps`` (the message says how to
            re-time it keeping the frames one to one), or cannot be read.
        MotionError: another layout, frames beyond the video, no valid window (nothing is
            written then), bad options; BodyModelError: bad body model.
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
    """
    from ...errors import OutputExistsError, VideoError

    if Path(out).exists() and not overwrite:
        raise OutputExistsError(f"motion file {out} already exists; pass --overwrite to replace it")
    from ...video import probe
    from ..body_model import load_body_model
    from . import FPS_TOLERANCE, retime_hint

    info = probe(video)
    if abs(info.fps - windows.source_fps) > FPS_TOLERANCE:
        raise VideoError(
            f"video {video} runs at {info.fps:.6g} fps; sources must be {windows.source_fps:g} fps: "
            f"{retime_hint(windows.source_fps)}, then pass --video out.mp4 (TRACE's results on in.mp4 hold "
            "for out.mp4: the frames are the same, one to one)"
        )
    rows = read_trace_results(trace_path)
    if rows.num_frames_seen is not None and rows.num_frames_seen > info.num_frames:
        raise MotionError(
            f"TRACE results file {trace_path} covers {rows.num_frames_seen} frames, but video {video} "
            f"has {info.num_frames}: was TRACE run on another video, or at another frame rate?"
        )
    body = load_body_model(body_model)
    world_to_camera = None if extrinsics is None else _load_extrinsics(extrinsics)
    motion, tracks, estimate = _trace_to_motion(
        rows,
        body,
        (info.height, info.width),
        info.num_frames,
        info.fps,
        world_to_camera,
        merge,
        keep,
        rank_by,
        min_frames,
        windows,
        camera,
        min_center_conf,
    )
    result = TraceImport(
        out=Path(out),
        motion=motion,
        tracks=tracks,
        windows=len(valid_starts(motion.valid, info.num_frames, windows)),
        video_frames=info.num_frames,
        trace_frames=rows.num_frames_seen,
        body_model=body.kind,
        exact_pelvis=rows.j3d is not None,
        camera="extrinsics" if world_to_camera is not None else "trace" if estimate is not None else "static",
        camera_estimate=estimate,
    )
    if result.windows == 0:
        raise MotionError(
            f"TRACE results file {trace_path} gives no valid {windows.span}-frame window: every window misses a "
            "tracked person in some sampled frame (tracks shorter than one window, gaps, or a subject who is lost); "
            "nothing written. Tracks:\n" + "\n".join("  " + t.describe(windows) for t in tracks)
        )
    save_motion(out, motion)
    return result
