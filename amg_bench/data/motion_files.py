"""Motion inputs of new renders: the package's motion files and AMASS-layout SMPL files, resampled.

A render takes one or more motion files (their people are put together, in order):

- the package's motion format (:mod:`amg_bench.data.motion`): every person of the file, its
  ``valid`` mask, its frame rate, and its camera (which gives the world's up direction and
  the first camera's side of the people);
- the AMASS layout, one person per file: ``poses`` (F, 72) SMPL, (F, 156) SMPL-H or (F, 165)
  SMPL-X axis-angle (root first; the first 22 joints are SMPL's body joints in SMPL's order,
  the two SMPL hand joints are zero), ``trans`` (F, 3) metres, ``betas`` (B,) optional, and
  ``mocap_framerate`` (AMASS's SMPL-H files) or ``mocap_frame_rate`` (its SMPL-X files). AMASS
  worlds are z-up; no camera is stored, so the up direction is read off the bodies (the mean
  of their rotated rest-pose up axis) and the first camera stands in front of them.

AMASS's betas are SMPL-H / SMPL-X shape coefficients, which mean something else to the
mannequin (its beta 0 is a stature scale), so with the mannequin they are replaced by zeros;
with an SMPL or SMPL-X body model they are kept (the first ``num_betas``). ``trans`` places
the source model's pelvis, so another model stands a few centimetres off (the rest pelvis of
the mannequin and of SMPL differ by about that).

Resampling to the output rate: output frame ``k`` shows the motion at ``start + k / fps``
seconds, source position ``x = (start + k / fps) * source_fps``. When ``x`` is a source frame
(within 1e-6) that frame is taken as it is, so 120 fps input at 8 fps output is exactly every
15th frame; otherwise joint rotations are slerped and translations interpolated linearly
between the two neighbours, and the person counts as visible only when both are valid.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..checks import finite_number, positive_int
from ..errors import MotionError
from .motion import BODY_MODELS, load_motion

AMASS_POSE_WIDTHS = {72: "SMPL", 156: "SMPL-H", 165: "SMPL-X"}
_EXACT = 1e-6


@dataclass
class MotionClip:
    """People's SMPL-format motion over the output frames (or a file's own frames, before resampling).

    Attributes:
        global_orient, body_pose, transl: (P, T, 3), (P, T, 69), (P, T, 3) float64.
        betas: (P, B) float64.
        visible: (P, T) bool: the person has a pose in that frame.
        fps: frame rate.
        person_ids: P names.
        body_model: the model ``transl`` and ``betas`` are in terms of, ``None`` for AMASS files (any).
        camera_extrinsics: (T, 4, 4) world-to-camera of the file's camera, ``None`` when it has none.
        sources: the files the people came from.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    visible: np.ndarray
    fps: float
    person_ids: list[str]
    body_model: str | None = None
    camera_extrinsics: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def num_people(self) -> int:
        return int(self.visible.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.visible.shape[1])

    def up_and_toward(self, vertices_centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World up, and the direction from ``vertices_centre`` towards the first camera.

        With a camera: up is the first frame's camera up (minus its y axis) and the direction
        points at that camera. Without: up is the mean rotated rest-pose up axis (+y) of every
        visible body, and the camera stands where the people face at their first visible frame
        (the mean rotated +z, levelled).
        """
        from scipy.spatial.transform import Rotation

        if self.camera_extrinsics is not None:
            first = self.camera_extrinsics[0]
            centre = -first[:3, :3].T @ first[:3, 3]
            return -first[1, :3], centre - np.asarray(vertices_centre, dtype=np.float64)
        seen = self.global_orient[self.visible]
        if not len(seen):
            raise MotionError("cannot frame the people: no person is visible in any frame")
        rotations = Rotation.from_rotvec(seen)
        up = rotations.apply([0.0, 1.0, 0.0]).mean(axis=0)
        first = [self.global_orient[p, np.flatnonzero(self.visible[p])[0]] for p in range(self.num_people)
                 if self.visible[p].any()]  # fmt: skip
        facing = Rotation.from_rotvec(np.stack(first)).apply([0.0, 0.0, 1.0]).mean(axis=0)
        norm_up = up / max(np.linalg.norm(up), 1e-12)
        level = facing - (facing @ norm_up) * norm_up
        return up, level if np.linalg.norm(level) > 1e-6 else facing

    def reversed(self) -> MotionClip:
        """The people playing their motion backwards (frame ``t`` shows frame ``T - 1 - t``); the camera is kept."""
        flip = slice(None, None, -1)
        return replace(
            self,
            global_orient=self.global_orient[:, flip].copy(),
            body_pose=self.body_pose[:, flip].copy(),
            transl=self.transl[:, flip].copy(),
            visible=self.visible[:, flip].copy(),
        )


def is_amass(keys: Sequence[str]) -> bool:
    """Whether a npz's keys are the AMASS layout (``poses`` and ``trans``)."""
    return "poses" in keys and "trans" in keys


def read_amass(path: str | os.PathLike, body_kind: str, num_betas: int) -> MotionClip:
    """One person from an AMASS-layout npz, at its own frame rate (see the module docstring).

    Raises:
        MotionError: unreadable file (no pickles are loaded), missing keys, wrong widths, a bad frame rate.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files if key != "gender"}
    except (OSError, ValueError) as exc:
        raise MotionError(f"motion file {path} is not a readable npz of plain arrays: {exc}") from exc
    poses = np.asarray(arrays["poses"], dtype=np.float64)
    trans = np.asarray(arrays["trans"], dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] not in AMASS_POSE_WIDTHS:
        widths = ", ".join(f"{w} ({name})" for w, name in AMASS_POSE_WIDTHS.items())
        raise MotionError(f"motion file {path}: AMASS 'poses' must be (frames, {widths}), got shape {poses.shape}")
    frames = poses.shape[0]
    if trans.shape != (frames, 3):
        raise MotionError(f"motion file {path}: 'trans' must be ({frames}, 3) like 'poses', got shape {trans.shape}")
    rate_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in arrays), None)
    if rate_key is None:
        raise MotionError(f"motion file {path}: the AMASS layout needs 'mocap_framerate' (or 'mocap_frame_rate')")
    fps = finite_number(np.asarray(arrays[rate_key]).reshape(-1)[0], f"motion file {path} {rate_key}", MotionError)
    if fps <= 0:
        raise MotionError(f"motion file {path}: {rate_key} must be positive, got {fps}")
    body_pose = np.zeros((frames, 69))
    body_pose[:, :63] = poses[:, 3:66]  # 21 body joints; SMPL's two hand joints stay 0
    if poses.shape[1] == 72:
        body_pose[:, 63:] = poses[:, 66:72]
    betas = np.asarray(arrays.get("betas", np.zeros(num_betas)), dtype=np.float64).reshape(-1)[:num_betas]
    if body_kind == "mannequin":
        betas = np.zeros(num_betas)  # SMPL-H / SMPL-X shape coefficients mean something else to it
    finite = np.isfinite(poses).all(axis=1) & np.isfinite(trans).all(axis=1)
    return MotionClip(
        global_orient=np.where(finite[:, None], poses[:, :3], 0.0)[None],
        body_pose=np.where(finite[:, None], body_pose, 0.0)[None],
        betas=np.pad(betas, (0, num_betas - len(betas)))[None],
        transl=np.where(finite[:, None], trans, 0.0)[None],
        visible=finite[None],
        fps=fps,
        person_ids=[path.stem],
        body_model=None,
        sources=[str(path)],
    )


def read_motion_file(path: str | os.PathLike, body_kind: str, num_betas: int) -> MotionClip:
    """A package motion file or an AMASS-layout file, at its own frame rate.

    Raises:
        MotionError: unreadable or malformed file, or a package motion made for another body model.
    """
    path = Path(path)
    if not path.is_file():
        raise MotionError(f"motion file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
    except (OSError, ValueError) as exc:
        raise MotionError(f"motion file {path} is not a readable npz of plain arrays: {exc}") from exc
    if is_amass(keys):
        return read_amass(path, body_kind, num_betas)
    motion = load_motion(path)
    if motion.body_model != body_kind:
        raise MotionError(
            f"motion file {path} was made for the '{motion.body_model}' body model (its transl and betas are in that "
            f"model's terms), but the body model here is '{body_kind}': pass --body-model for it"
        )
    betas = np.zeros((motion.num_people, num_betas))
    width = min(num_betas, motion.betas.shape[1])
    betas[:, :width] = motion.betas[:, :width]
    return MotionClip(
        global_orient=motion.global_orient.astype(np.float64),
        body_pose=motion.body_pose.astype(np.float64),
        betas=betas,
        transl=motion.transl.astype(np.float64),
        visible=motion.valid.copy(),
        fps=motion.fps,
        person_ids=list(motion.person_ids),
        body_model=motion.body_model,
        camera_extrinsics=motion.extrinsics.astype(np.float64),
        sources=[str(path)],
    )


def source_positions(num_frames: int, fps: float, source_fps: float, start: float = 0.0) -> np.ndarray:
    """Source frame position of each output frame: ``(start + k / fps) * source_fps``, exact ones snapped.

    >>> source_positions(4, 8.0, 120.0).tolist()
    [0.0, 15.0, 30.0, 45.0]
    """
    positions = (start + np.arange(num_frames) / fps) * source_fps
    nearest = np.rint(positions)
    return np.where(np.abs(positions - nearest) <= _EXACT, nearest, positions)


def resample(clip: MotionClip, fps: float, num_frames: int, start: float = 0.0) -> MotionClip:
    """``clip`` at ``fps`` for ``num_frames`` frames from ``start`` seconds (see the module docstring).

    Raises:
        MotionError: the motion is shorter than the output, or a bad rate, count or start.
    """
    from scipy.spatial.transform import Rotation

    fps = finite_number(fps, "fps", MotionError)
    num_frames = positive_int(num_frames, "frames", MotionError)
    start = finite_number(start, "start", MotionError)
    if fps <= 0 or start < 0:
        raise MotionError(f"fps must be positive and start non-negative, got fps {fps}, start {start}")
    positions = source_positions(num_frames, fps, clip.fps, start)
    last = clip.num_frames - 1
    if positions[-1] > last + _EXACT:
        need = start + (num_frames - 1) / fps
        raise MotionError(
            f"motion {', '.join(clip.sources) or '<clip>'} holds {clip.num_frames} frames at {clip.fps:g} fps "
            f"({last / clip.fps:.3f} s); {num_frames} frames at {fps:g} fps from {start:g} s need {need:.3f} s"
        )
    low = np.minimum(np.floor(positions).astype(int), last)
    high = np.minimum(low + 1, last)
    alpha = positions - low
    exact = alpha == 0.0

    def lerp(values: np.ndarray) -> np.ndarray:  # (P, F, D) -> (P, T, D)
        return values[:, low] * (1 - alpha)[None, :, None] + values[:, high] * alpha[None, :, None]

    def slerp(values: np.ndarray) -> np.ndarray:  # axis-angle (P, F, 3J) -> (P, T, 3J), geodesic per joint
        out = values[:, low].copy()
        moving = np.flatnonzero(~exact)
        if not len(moving):
            return out
        people, _, width = values.shape
        shape = (people, len(moving), width)
        r0 = Rotation.from_rotvec(values[:, low[moving]].reshape(-1, 3))
        r1 = Rotation.from_rotvec(values[:, high[moving]].reshape(-1, 3))
        step = (r0.inv() * r1).as_rotvec().reshape(shape) * alpha[moving][None, :, None]
        out[:, moving] = (r0 * Rotation.from_rotvec(step.reshape(-1, 3))).as_rotvec().reshape(shape)
        return out

    visible = clip.visible[:, low] & (clip.visible[:, high] | exact[None])
    camera = None
    if clip.camera_extrinsics is not None:
        camera = clip.camera_extrinsics[low]  # the camera only gives the framing's directions
    return replace(
        clip,
        global_orient=slerp(clip.global_orient),
        body_pose=slerp(clip.body_pose),
        transl=np.where(exact[None, :, None], clip.transl[:, low], lerp(clip.transl)),
        visible=visible,
        fps=fps,
        camera_extrinsics=camera,
    )


def concatenate(clips: Sequence[MotionClip]) -> MotionClip:
    """The people of several clips (same frames and rate) as one clip; the first camera that exists is kept.

    Raises:
        MotionError: clips of different lengths, rates or body models, or repeated person ids.
    """
    if not clips:
        raise MotionError("no motion to render: give at least one motion file")
    first = clips[0]
    kinds = {c.body_model for c in clips if c.body_model is not None}
    if len(kinds) > 1:
        raise MotionError(f"motion files are for different body models {sorted(kinds)}")
    for clip in clips[1:]:
        if clip.num_frames != first.num_frames or clip.fps != first.fps:
            raise MotionError("motion clips to put together must have the same frames and rate")
    ids = [pid for c in clips for pid in c.person_ids]
    unique = []
    for pid in ids:  # two files with the same stem: number the repeats
        name, n = pid, 2
        while name in unique:
            name, n = f"{pid}_{n}", n + 1
        unique.append(name)
    camera = next((c.camera_extrinsics for c in clips if c.camera_extrinsics is not None), None)
    return MotionClip(
        global_orient=np.concatenate([c.global_orient for c in clips]),
        body_pose=np.concatenate([c.body_pose for c in clips]),
        betas=np.concatenate([c.betas for c in clips]),
        transl=np.concatenate([c.transl for c in clips]),
        visible=np.concatenate([c.visible for c in clips]),
        fps=first.fps,
        person_ids=unique,
        body_model=next(iter(kinds), None),
        camera_extrinsics=camera,
        sources=[s for c in clips for s in c.sources],
    )


def load_motion_clip(
    paths: Sequence[str | os.PathLike], body_kind: str, num_betas: int, fps: float, num_frames: int, start: float = 0.0
) -> MotionClip:
    """Read every motion file, resample it to ``fps`` x ``num_frames`` from ``start`` s; put their people together.

    Raises:
        MotionError: see :func:`read_motion_file`, :func:`resample` and :func:`concatenate`.
    """
    if body_kind not in BODY_MODELS:
        raise MotionError(f"body model kind must be one of {BODY_MODELS}, got {body_kind!r}")
    clips = [resample(read_motion_file(p, body_kind, num_betas), fps, num_frames, start) for p in paths]
    return concatenate(clips)
