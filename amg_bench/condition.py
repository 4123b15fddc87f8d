"""``amg-bench render``: a condition video from motion files, a camera path and (optionally) a dataset person's look.

Steps:

1. read every motion file (the package format or the AMASS layout, :mod:`amg_bench.data.motion_files`)
   and resample it to ``frames`` frames at ``fps``; their people are rendered together, in order;
2. take the palettes of ``--appearance-from DATASET:CLIP_ID`` (the clip's ``appearance_colors``,
   read through :func:`amg_bench.data.hub.load_benchmark`): render person ``i`` gets the look of
   the clip's person ``i`` (wrapping round when the clip has fewer); without it, one flat colour
   per person;
3. frame the people and build the camera path (:mod:`amg_bench.data.cameras`), with a square
   ``size`` x ``size`` pinhole camera of focal length ``548 size / 512`` pixels (TRACE's camera
   for a square frame) and the principal point at the centre;
4. render (the same renderer and body model as the dataset's ``avatar_video``) and write the
   mp4 and, beside it, the sidecar ``.npz``: the package's motion format (so it is itself a
   ``--motion`` input, and its ``extrinsics`` a ``--camera`` file) plus ``camera_path``,
   ``appearance_colors``, ``appearance_from`` and ``motion_files``; with ``pose_out`` also the
   DensePose-convention parts video of the same bodies (the ``pose`` input of MagicAnimate).

Everything is written under a temporary name and renamed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import finite_number, positive_int
from .errors import DatasetError, MotionError, OutputExistsError

TRACE_FOCAL_RATIO = 548.0 / 512.0
DEFAULT_CRF = 18  # the dataset's avatar renders


@dataclass(frozen=True)
class RenderReport:
    """What :func:`render_condition` wrote."""

    video: Path
    sidecar: Path
    pose_video: Path | None
    num_people: int
    num_frames: int
    camera: str
    appearance_from: str | None

    def summary(self) -> str:
        look = f"looks of {self.appearance_from}" if self.appearance_from else "flat colours"
        extra = f" and {self.pose_video}" if self.pose_video else ""
        return (
            f"wrote {self.video} ({self.num_frames} frames, {self.num_people} person(s), camera {self.camera}, "
            f"{look}){extra}; motion and cameras in {self.sidecar}"
        )


def default_intrinsics(size: int) -> np.ndarray:
    """(3, 3) pinhole of a ``size``-square frame: focal ``548 size / 512`` px, principal point at the centre."""
    f = TRACE_FOCAL_RATIO * size
    c = (size - 1) / 2
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def parse_appearance_source(text: str) -> tuple[str, str]:
    """``DATASET:CLIP_ID`` -> ``(dataset, clip_id)``, split at the last ``:``.

    Raises:
        DatasetError: no ``:``, or an empty side.
    """
    dataset, sep, clip_id = str(text).rpartition(":")
    if not sep or not dataset or not clip_id:
        raise DatasetError(
            f"--appearance-from must be DATASET:CLIP_ID (a built folder or Hub id, a clip id), got {text!r}"
        )
    return dataset, clip_id


def clip_palettes(dataset: str, clip_id: str) -> np.ndarray:
    """uint8 ``(P, 24, 3)``: the ``appearance_colors`` of ``clip_id`` in any split of ``dataset``.

    Raises:
        DatasetError: the dataset cannot be loaded, has no such clip, or no (valid) ``appearance_colors``.
    """
    from .data.appearance import check_palettes
    from .data.hub import load_benchmark

    loaded = load_benchmark(dataset, decode_videos=False)
    for name, split in loaded.items():
        if "appearance_colors" not in split.column_names:
            raise DatasetError(
                f"dataset {dataset!r} has no 'appearance_colors' column (it was built before avatars carried "
                "appearance): rebuild it with this amg-bench to take looks from it"
            )
        ids = split["clip_id"]
        if clip_id in ids:
            row = split.select_columns(["num_people", "appearance_colors"])[ids.index(clip_id)]
            where = f"dataset {dataset!r} split {name!r} clip {clip_id}"
            return check_palettes(row["appearance_colors"], int(row["num_people"]), where, DatasetError)
    raise DatasetError(f"dataset {dataset!r} has no clip {clip_id!r} in any split ({', '.join(loaded)})")


def render_condition(
    motion_files: list[str | os.PathLike],
    out: str | os.PathLike,
    camera: str = "static",
    frames: int = 16,
    fps: float = 8.0,
    size: int = 256,
    appearance_from: str | None = None,
    body_model: str = "mannequin",
    start: float = 0.0,
    pose_out: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> RenderReport:
    """Render the condition video ``out`` (see the module docstring for the steps).

    Raises:
        MotionError: bad motion or camera input, too short a motion, bad sizes or rates.
        DatasetError: a bad ``appearance_from``.
        BodyModelError: a bad body model.
        OutputExistsError: an output exists and ``overwrite`` is false.
    """
    from .data.body_model import load_body_model
    from .data.cameras import camera_frames, parse_camera_path
    from .data.motion_files import load_motion_clip
    from .data.views import clip_framing, pose_people, render_views
    from .video import write_video

    # 1. Check the arguments and outputs before any work
    frames = positive_int(frames, "--frames", MotionError)
    size = positive_int(size, "--size", MotionError)
    if size < 16 or size % 2:
        raise MotionError(f"--size must be an even number >= 16 (H.264), got {size}")
    fps = finite_number(fps, "--fps", MotionError)
    if fps <= 0:
        raise MotionError(f"--fps must be positive, got {fps}")
    if not motion_files:
        raise MotionError("give at least one --motion file")
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise MotionError(f"--out must name an .mp4 file, got {out}")
    sidecar = out.with_suffix(".npz")
    outputs = [out, sidecar] + ([Path(pose_out)] if pose_out else [])
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")
    path = parse_camera_path(camera)
    source = parse_appearance_source(appearance_from) if appearance_from else None

    # 2. Motion, looks, body
    body = load_body_model(body_model)
    clip = load_motion_clip(motion_files, body.kind, body.num_betas, fps, frames, start)
    palettes = None
    if source is not None:
        looks = clip_palettes(*source)
        palettes = looks[np.arange(clip.num_people) % len(looks)] if len(looks) else None
        if palettes is None:
            raise DatasetError(f"clip {source[1]} of {source[0]!r} has no person to take a look from")

    # 3. Framing and cameras
    vertices, _ = pose_people(body, clip)
    framing = clip_framing(clip, vertices)
    intrinsics = default_intrinsics(size)
    extrinsics = camera_frames(path, framing, intrinsics, size, size, frames)

    # 4. Render and write
    view = (body, vertices, clip.visible, intrinsics, extrinsics, size, size, palettes)
    write_video(out, render_views(*view, mode="shaded"), fps=fps, crf=DEFAULT_CRF)
    if pose_out:
        write_video(pose_out, render_views(*view, mode="parts"), fps=fps, crf=DEFAULT_CRF)
    _write_sidecar(sidecar, clip, body.kind, intrinsics, extrinsics, size, path.text, palettes, appearance_from)
    return RenderReport(out, sidecar, Path(pose_out) if pose_out else None, clip.num_people, frames, path.text,
                        appearance_from)  # fmt: skip


def _write_sidecar(path, clip, kind, intrinsics, extrinsics, size, camera, palettes, appearance_from) -> None:
    from .data.appearance import flat_palette
    from .data.motion import FORMAT_VERSION
    from .files import atomic_path

    looks = palettes if palettes is not None else flat_palette(range(clip.num_people))
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            global_orient=clip.global_orient.astype(np.float32),
            body_pose=clip.body_pose.astype(np.float32),
            betas=clip.betas.astype(np.float32),
            transl=clip.transl.astype(np.float32),
            valid=clip.visible,
            intrinsics=intrinsics.astype(np.float32),
            extrinsics=extrinsics.astype(np.float32),
            image_size=np.array([size, size], dtype=np.int32),
            fps=np.float32(clip.fps),
            person_ids=np.asarray(clip.person_ids, dtype=str),
            body_model=np.asarray(kind),
            format_version=np.int32(FORMAT_VERSION),
            camera_path=np.asarray(camera),
            appearance_colors=looks.astype(np.uint8),
            appearance_from=np.asarray(appearance_from or ""),
            motion_files=np.asarray(clip.sources, dtype=str),
        )
