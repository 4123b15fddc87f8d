"""The package's motion file: SMPL-family parameters per person and frame, cameras, validity.

One ``.npz`` per source video (no pickled objects, so it is safe to load from anywhere).

========================  =============  =====================================================
key                       shape / dtype  meaning
========================  =============  =====================================================
``global_orient``         (P, F, 3) f4   root rotation, axis-angle, world frame
``body_pose``             (P, F, 69) f4  23 body joints, axis-angle (SMPL order); SMPL-X fits
                                         store their 21 body joints and zero the two hands
``betas``                 (P, B) f4      shape coefficients, one set per person
``transl``                (P, F, 3) f4   SMPL ``transl`` in metres, world frame (the model's
                                         own translation parameter, not a joint position)
``valid``                 (P, F) bool    the person has a pose at this frame
``intrinsics``            (3, 3) f4      pinhole ``K`` in pixels of the source video
``extrinsics``            (F, 4, 4) f4   world-to-camera per frame, OpenCV axes
                                         (x right, y down, z forward)
``image_size``            (2,) i4        source video ``(height, width)``
``fps``                   () f4          source frame rate (24)
``person_ids``            (P,) str       stable names of the persons
``body_model``            () str         ``mannequin``, ``smpl`` or ``smplx``
``format_version``        () i4          1
========================  =============  =====================================================

Frames whose parameters are NaN or infinite are marked invalid on load (they count as missing,
as a tracker's lost frames do) rather than failing the whole source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MotionError
from ..files import atomic_path

FORMAT_VERSION = 1
BODY_MODELS = ("mannequin", "smpl", "smplx")


@dataclass
class Motion:
    """Motion of every person of one source video, with its camera."""

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    valid: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    image_size: tuple[int, int]
    fps: float = 24.0
    person_ids: list[str] = field(default_factory=list)
    body_model: str = "mannequin"

    @property
    def num_people(self) -> int:
        return int(self.valid.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.valid.shape[1])

    def __post_init__(self) -> None:
        self.validate("<motion>")

    def validate(self, where: str) -> None:
        """Check shapes and values; NaN/inf frames become invalid.

        Raises:
            MotionError: naming ``where`` and the field that is wrong.
        """

        def fail(msg: str) -> None:
            raise MotionError(f"motion {where}: {msg}")

        self.valid = np.asarray(self.valid)
        if self.valid.ndim != 2 or self.valid.dtype != bool:
            fail(f"'valid' must be a bool (persons, frames) array, got {self.valid.dtype} {self.valid.shape}")
        p, f = self.valid.shape
        expect = {"global_orient": (p, f, 3), "body_pose": (p, f, 69), "transl": (p, f, 3)}
        for name in (*expect, "betas", "intrinsics", "extrinsics", "image_size", "fps"):
            kind = np.asarray(getattr(self, name)).dtype.kind
            if kind not in "biuf":
                fail(f"'{name}' must hold numbers, got an array of dtype {np.asarray(getattr(self, name)).dtype}")
        for name, shape in expect.items():
            value = np.asarray(getattr(self, name), dtype=np.float32)
            if value.shape != shape:
                fail(f"'{name}' must have shape {shape}, got {value.shape}")
            setattr(self, name, value)
        self.betas = np.asarray(self.betas, dtype=np.float32)
        if self.betas.ndim != 2 or self.betas.shape[0] != p or self.betas.shape[1] < 1:
            fail(f"'betas' must have shape ({p}, B), got {self.betas.shape}")
        if not np.isfinite(self.betas).all():
            fail("'betas' holds NaN or inf values")
        self.intrinsics = np.asarray(self.intrinsics, dtype=np.float32)
        if self.intrinsics.shape != (3, 3) or not np.isfinite(self.intrinsics).all():
            fail(f"'intrinsics' must be a finite (3, 3) matrix, got shape {self.intrinsics.shape}")
        if self.intrinsics[0, 0] <= 0 or self.intrinsics[1, 1] <= 0:
            fail("'intrinsics' must have positive focal lengths")
        self.extrinsics = np.asarray(self.extrinsics, dtype=np.float32)
        if self.extrinsics.shape != (f, 4, 4) or not np.isfinite(self.extrinsics).all():
            fail(f"'extrinsics' must be finite with shape ({f}, 4, 4), got {self.extrinsics.shape}")
        size = tuple(int(v) for v in np.asarray(self.image_size).reshape(-1))
        if len(size) != 2 or min(size) <= 0:
            fail(f"'image_size' must be (height, width), got {size}")
        self.image_size = size  # type: ignore[assignment]
        if np.asarray(self.fps).size != 1:
            fail(f"'fps' must be one number, got shape {np.asarray(self.fps).shape}")
        self.fps = float(np.asarray(self.fps).reshape(-1)[0])
        if not self.fps > 0 or not np.isfinite(self.fps):
            fail(f"'fps' must be positive, got {self.fps}")
        if not self.person_ids:
            self.person_ids = [f"person{i}" for i in range(p)]
        self.person_ids = [str(x) for x in self.person_ids]
        if len(self.person_ids) != p or len(set(self.person_ids)) != p:
            fail(f"'person_ids' must be {p} distinct names, got {self.person_ids}")
        if self.body_model not in BODY_MODELS:
            fail(f"'body_model' must be one of {BODY_MODELS}, got {self.body_model!r}")
        finite = (
            np.isfinite(self.global_orient).all(-1)
            & np.isfinite(self.body_pose).all(-1)
            & np.isfinite(self.transl).all(-1)
        )
        self.valid = self.valid & finite
        for name in ("global_orient", "body_pose", "transl"):
            value = getattr(self, name)
            value[~finite] = 0.0


def save_motion(path: str | os.PathLike, motion: Motion) -> None:
    """Write a motion file atomically (uncompressed npz, no pickled objects)."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            global_orient=motion.global_orient,
            body_pose=motion.body_pose,
            betas=motion.betas,
            transl=motion.transl,
            valid=motion.valid,
            intrinsics=motion.intrinsics,
            extrinsics=motion.extrinsics,
            image_size=np.asarray(motion.image_size, dtype=np.int32),
            fps=np.float32(motion.fps),
            person_ids=np.asarray(motion.person_ids, dtype=str),
            body_model=np.asarray(motion.body_model),
            format_version=np.int32(FORMAT_VERSION),
        )


REQUIRED_KEYS = ("global_orient", "body_pose", "betas", "transl", "valid", "intrinsics", "extrinsics", "image_size")


def load_motion(path: str | os.PathLike) -> Motion:
    """Read and validate a motion file.

    Raises:
        MotionError: missing file, not an npz, missing keys, wrong shapes or version.
    """
    from ..readers import read_npz

    path = Path(path)
    arrays = read_npz(path, "motion file", MotionError)
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise MotionError(f"motion file {path} misses keys {missing}")
    version = np.asarray(arrays.get("format_version", FORMAT_VERSION))
    if version.dtype.kind not in "iu" or version.size != 1 or int(version.reshape(-1)[0]) != FORMAT_VERSION:
        version = version.tolist()
        raise MotionError(f"motion file {path} has format_version {version}; this package reads {FORMAT_VERSION}")
    motion = Motion.__new__(Motion)
    motion.global_orient = arrays["global_orient"]
    motion.body_pose = arrays["body_pose"]
    motion.betas = arrays["betas"]
    motion.transl = arrays["transl"]
    motion.valid = arrays["valid"]
    motion.intrinsics = arrays["intrinsics"]
    motion.extrinsics = arrays["extrinsics"]
    motion.image_size = arrays["image_size"]  # type: ignore[assignment]
    motion.fps = arrays.get("fps", np.float32(24.0))
    motion.person_ids = [str(x) for x in arrays.get("person_ids", np.zeros(0, dtype=str)).tolist()]
    motion.body_model = str(arrays.get("body_model", np.asarray("mannequin")))
    motion.validate(str(path))
    return motion
