"""Where each person is in each frame of a clip: visible-pixel masks and boxes, re-rendered from the row.

Every row holds the people's SMPL parameters (``smpl``) and the camera of every frame
(``camera``), so the person regions need no detector: each person's posed body is rasterised
with the package's renderer (:func:`~amg_bench.data.render.person_id_map`), all people in one
z-buffer, so a person hidden behind another keeps only the pixels that show. This is the single
source of person regions for every metric that needs them (foreground motion fidelity, identity
consistency, pose accuracy) and for the gallery overlays.

Masks are rendered at any output size: the stored intrinsics (pixels of the stored frames,
OpenCV pixel-centre convention) are rescaled with ``u -> (u + 0.5) s - 0.5``.

The same posed bodies give each person's joints projected into each frame
(:func:`projected_keypoints`): the pose targets of a clip without a real video (the
``controls`` split), on the 12 limb joints the COCO-17 keypoints and the SMPL skeleton share
(shoulders, elbows, wrists, hips, knees, ankles). SMPL's hip joints sit inside the pelvis, a few
centimetres from where a COCO annotator puts a hip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DatasetError

#: Bumped whenever rendering changes what a mask holds (part of every cache key).
REGIONS_VERSION = 1
#: COCO-17 keypoint index -> SMPL joint index, for the 12 limb joints both skeletons have.
COCO_FROM_SMPL = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5, 15: 7, 16: 8}
NUM_COCO_KEYPOINTS = 17


@dataclass(frozen=True)
class PersonRegions:
    """Visible pixels of each person: bool ``masks`` ``(P, T, H, W)``."""

    masks: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.masks.shape[0])

    def areas(self) -> np.ndarray:
        """int64 ``(P, T)``: visible pixels of each person in each frame."""
        return self.masks.reshape(*self.masks.shape[:2], -1).sum(axis=-1)

    def boxes(self) -> np.ndarray:
        """float32 ``(P, T, 4)``: ``(u0, v0, u1, v1)``, the inclusive pixel bounds of the visible pixels (NaN when none)."""
        people, frames = self.masks.shape[:2]
        out = np.full((people, frames, 4), np.nan, dtype=np.float32)
        rows_any = self.masks.any(axis=3)  # (P, T, H)
        cols_any = self.masks.any(axis=2)  # (P, T, W)
        for p in range(people):
            for t in range(frames):
                rows, cols = np.flatnonzero(rows_any[p, t]), np.flatnonzero(cols_any[p, t])
                if rows.size:
                    out[p, t] = (cols[0], rows[0], cols[-1], rows[-1])
        return out

    def union(self, frame: int) -> np.ndarray:
        """bool ``(H, W)``: pixels of any person in ``frame``."""
        return self.masks[:, frame].any(axis=0) if self.num_people else np.zeros(self.masks.shape[2:], bool)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"packed": np.packbits(self.masks, axis=-1), "shape": np.asarray(self.masks.shape, np.int64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PersonRegions:
        shape = tuple(int(v) for v in arrays["shape"])
        return cls(np.unpackbits(arrays["packed"], axis=-1, count=shape[-1]).astype(bool).reshape(shape))


def _matrix(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where} is not numeric: {exc}") from exc
    if array.shape != shape or not np.isfinite(array).all():
        raise DatasetError(f"{where} must be finite with shape {shape}, got shape {array.shape}")
    return array


def scaled_intrinsics(intrinsics: np.ndarray, source: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """Intrinsics of frames resized from ``source`` to ``target`` ``(height, width)`` (pixel-centre convention)."""
    sy, sx = target[0] / source[0], target[1] / source[1]
    k = np.array(intrinsics, dtype=np.float64)
    k[0, 0] *= sx
    k[0, 1] *= sx
    k[1, 1] *= sy
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k


def _posed_row(row: dict[str, Any], body, height: int, width: int):
    """``(intrinsics at height x width, (T, 4, 4) extrinsics, per person (vertices (T, V, 3), joints (T, 24, 3)))``."""
    clip = row.get("clip_id", "<row>")
    for column in ("smpl", "camera", "num_frames"):
        if row.get(column) is None:
            raise DatasetError(f"clip {clip}: column {column!r} is missing; person regions need smpl and camera")
    if row.get("body_model", "mannequin") != body.kind:
        raise DatasetError(
            f"clip {clip} was made with the {row.get('body_model')!r} body model, but the body model given is "
            f"{body.kind!r}: pass the same one (--body-model)"
        )
    frames = int(row["num_frames"])
    camera = row["camera"]
    source_size = (int(camera["height"]), int(camera["width"]))
    intrinsics = scaled_intrinsics(
        _matrix(camera["intrinsics"], (3, 3), f"clip {clip} camera.intrinsics"), source_size, (height, width)
    )
    extrinsics = _matrix(camera["extrinsics"], (frames, 4, 4), f"clip {clip} camera.extrinsics")
    posed = []
    for p, person in enumerate(row["smpl"]):
        where = f"clip {clip} smpl[{p}]"
        betas = np.asarray(person["betas"], dtype=np.float64)
        posed.append(
            body.forward(
                _matrix(person["global_orient"], (frames, 3), f"{where}.global_orient"),
                _matrix(person["body_pose"], (frames, 69), f"{where}.body_pose"),
                np.broadcast_to(betas, (frames, betas.size)),
                _matrix(person["transl"], (frames, 3), f"{where}.transl"),
            )
        )
    return intrinsics, extrinsics, posed


def person_regions(row: dict[str, Any], body, height: int, width: int) -> PersonRegions:
    """Render every person of a dataset row at ``height`` x ``width``.

    Args:
        row: a dataset row (``clip_id``, ``num_frames``, ``smpl``, ``camera``, ``body_model``).
        body: a :class:`~amg_bench.data.body_model.BodyModel` of the row's kind.

    Raises:
        DatasetError: a missing or malformed ``smpl`` / ``camera`` field, or a body model of
            another kind than the row's, naming the clip and the field.
    """
    from .render import Camera, person_id_map

    intrinsics, extrinsics, posed = _posed_row(row, body, height, width)
    frames = len(extrinsics)
    masks = np.zeros((len(posed), frames, height, width), dtype=bool)
    if not posed:
        return PersonRegions(masks)
    for t in range(frames):
        view = Camera(intrinsics, extrinsics[t], height, width)
        ids = person_id_map([vertices[t] for vertices, _ in posed], body.faces, view)
        for p in range(len(posed)):
            masks[p, t] = ids == p
    return PersonRegions(masks)


def projected_keypoints(row: dict[str, Any], body, height: int, width: int) -> dict[str, np.ndarray]:
    """Each person's joints projected into each frame, as COCO-17 keypoints of a detector would be.

    Returns:
        ``{"xy": float32 (P, T, 17, 2) pixels, "score": float32 (P, T, 17)}``: the 12 limb joints
        COCO and SMPL share (:data:`COCO_FROM_SMPL`) score 1 where the joint is in front of the
        camera and projects inside the frame, 0 elsewhere; the five face keypoints always 0.

    Raises:
        DatasetError: as :func:`person_regions`.
    """
    from .render import Camera

    intrinsics, extrinsics, posed = _posed_row(row, body, height, width)
    frames = len(extrinsics)
    xy = np.zeros((len(posed), frames, NUM_COCO_KEYPOINTS, 2), dtype=np.float32)
    score = np.zeros((len(posed), frames, NUM_COCO_KEYPOINTS), dtype=np.float32)
    coco, smpl = list(COCO_FROM_SMPL), list(COCO_FROM_SMPL.values())
    for p, (_, joints) in enumerate(posed):
        for t in range(frames):
            uv = Camera(intrinsics, extrinsics[t], height, width).project(joints[t, smpl])
            inside = np.isfinite(uv).all(axis=1)
            inside &= (uv[:, 0] >= 0) & (uv[:, 0] <= width - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= height - 1)
            xy[p, t, coco] = np.where(inside[:, None], uv, 0.0)
            score[p, t, coco] = inside
    return {"xy": xy, "score": score}


class PersonRegionSource:
    """:func:`person_regions` through the content cache (keyed by the row's motion, camera and size)."""

    def __init__(self, body, root=None) -> None:
        from ..cache import NPZ, ContentCache
        from ..files import sha256_file

        self.body = body
        settings = {"body_model": body.kind, "body_file_sha256": sha256_file(body.path), "version": REGIONS_VERSION}
        self.cache = ContentCache("person_regions", settings, NPZ, root)

    def regions(self, row: dict[str, Any], height: int, width: int) -> PersonRegions:
        from ..cache import content_digest

        smpl = row.get("smpl") or []
        parts = [f"{height}x{width}", str(row.get("num_frames")), repr(row.get("camera"))]
        parts += [repr(sorted(person.items())) for person in smpl]
        key = content_digest(*parts)
        arrays = self.cache.get_or_compute(key, lambda: person_regions(row, self.body, height, width).to_arrays())
        return PersonRegions.from_arrays(arrays)
