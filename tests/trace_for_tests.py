"""Write TRACE-layout results files from known motion, as TRACE would have seen it.

Independent of the reader under test: it follows TRACE's conventions as its code states them
(root-aligned 44 joints on the midpoint of joints 35 / 36, ``cam_trans`` that midpoint in the
camera frame, camera-frame root rotation, 548-pixel focal length at 512 pixels) and uses the
mannequin as TRACE's body, with its hips (SMPL joints 2 and 1) as TRACE's 35 (R_Hip) and 36 (L_Hip).
TRACE's world outputs are those of a world that is the camera frame at the track's first frame:
``world_global_rots`` the root rotation there, ``world_trans`` the hip midpoint there.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# 44-joint layout: SMPL's 24, 11 face / feet points, then R_Hip, L_Hip, Neck_LSP, Head_top,
# Pelvis, Thorax_MPII, Spine_H36M, Jaw_H36M, Head. Stand-ins: the nearest SMPL joint.
_EXTRA_20 = [15, 15, 15, 15, 15, 10, 10, 7, 11, 11, 8, 2, 1, 12, 15, 0, 9, 6, 15, 15]


def trace_camera(height: int, width: int) -> np.ndarray:
    focal = 548.0 * max(height, width) / 512.0
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])


def trace_rows(body, global_orient, body_pose, betas, transl, extrinsics, image_size, trace_world=None):
    """TRACE's per-row arrays for world-frame SMPL parameters (n rows) seen by ``extrinsics`` (n, 4, 4).

    ``trace_world`` (4, 4) maps the given world to TRACE's world of this track (default: the
    camera of the first row, as TRACE starts a track's world at its first frame).
    """
    height, width = image_size
    _, joints = body.forward(global_orient, body_pose, betas, transl)
    joints = joints.astype(np.float64)
    rotation, shift = extrinsics[:, :3, :3], extrinsics[:, :3, 3]
    joints_cam = np.einsum("nij,nkj->nki", rotation, joints) + shift[:, None]
    joints44 = np.concatenate([joints_cam, joints_cam[:, _EXTRA_20]], axis=1)
    hips = joints44[:, [35, 36]].mean(axis=1)
    root_cam = Rotation.from_matrix(rotation) * Rotation.from_rotvec(global_orient)
    to_trace = extrinsics[0] if trace_world is None else np.asarray(trace_world, dtype=np.float64)
    hips_world = joints[:, [2, 1]].mean(axis=1)
    k = trace_camera(height, width)
    pj2d = joints44[..., :2] / joints44[..., 2:] * k[[0, 1], [0, 1]] + k[:2, 2]
    return {
        "smpl_thetas": np.concatenate([root_cam.as_rotvec(), body_pose], axis=1).astype(np.float32),
        "smpl_betas": np.broadcast_to(betas, (len(transl), betas.shape[-1])).astype(np.float32),
        "cam_trans": hips.astype(np.float32),
        "j3d": (joints44 - hips[:, None]).astype(np.float32),
        "pj2d_org": pj2d.astype(np.float32),
        "world_global_rots": (Rotation.from_matrix(to_trace[:3, :3]) * Rotation.from_rotvec(global_orient))
        .as_rotvec()
        .astype(np.float32),
        "world_trans": (hips_world @ to_trace[:3, :3].T + to_trace[:3, 3]).astype(np.float32),
        "world_cams": np.zeros((len(transl), 3), np.float32),
    }


def motion_to_trace(body, motion, track_of, rng):
    """TRACE outputs for a Motion: ``track_of(person, frame)`` gives each row's track id (None: no row).

    Each track's world outputs are in its own TRACE world (the camera at the track's first
    frame). Rows come out shuffled, as order is not something a reader may rely on.
    """
    parts, frames, tracks = [], [], []
    for person in range(motion.num_people):
        mine = [f for f in np.flatnonzero(motion.valid[person]) if track_of(person, f) is not None]
        for track in sorted({track_of(person, f) for f in mine}):
            rows = np.asarray([f for f in mine if track_of(person, f) == track])
            parts.append(
                trace_rows(
                    body,
                    motion.global_orient[person, rows],
                    motion.body_pose[person, rows],
                    motion.betas[person],
                    motion.transl[person, rows],
                    motion.extrinsics[rows],
                    motion.image_size,
                )
            )
            frames.append(rows)
            tracks.append(np.full(len(rows), track))
    outputs = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    outputs["reorganize_idx"] = np.concatenate(frames)
    outputs["track_ids"] = np.concatenate(tracks)
    outputs["center_confs"] = rng.uniform(0.3, 1.0, len(outputs["track_ids"])).astype(np.float32)
    order = rng.permutation(len(outputs["track_ids"]))
    return {key: value[order] for key, value in outputs.items()}


def save_trace(path, outputs, num_frames=None):
    """Save as TRACE does: ``np.savez(path, outputs=<dict>, imgpaths=<frame paths>)``."""
    extra = {} if num_frames is None else {"imgpaths": np.array([f"frames/{i:08d}.jpg" for i in range(num_frames)])}
    np.savez(path, outputs=outputs, **extra)
    return path
