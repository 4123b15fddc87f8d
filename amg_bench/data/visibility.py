"""Which posed people the camera actually sees: the lost-subject rule applied to the picture.

A motion frame can be "valid" (finite parameters) and still show nobody: the person stands
behind the camera, or so far away or to the side that no vertex of the posed mesh lands in the
image. Such a person would be missing from the condition render while the window claims them,
so a person-frame counts as not seen, exactly like a frame TRACE lost, when the projected box of
the mesh's vertices in front of the camera, clipped to the image, contains no pixel centre or is
less than a pixel wide or high (the renderer fills pixels by their centres; a person 1e20 m away
is a box far smaller than a pixel, which may still happen to hold one centre): a window in which a person is seen in some sampled
frames and not in others is dropped, and a person never seen in a window is not in it.

The mask depends only on the motion file's content and the body model, so it is computed once
and kept in the content cache (namespace ``visibility``); the build's planner, its workers and
the captioner all read the same mask.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .motion import Motion
from .render import NEAR

CHUNK = 256  # frames posed per body-model call


def seen_mask(motion: Motion, body) -> np.ndarray:
    """bool ``(P, F)``: person ``p`` is valid at frame ``f`` and some vertex projects inside the image in front."""
    height, width = motion.image_size
    seen = np.zeros_like(motion.valid)
    for person in range(motion.num_people):
        frames = np.flatnonzero(motion.valid[person])
        for chunk in np.array_split(frames, max(1, -(-len(frames) // CHUNK))):
            if len(chunk) == 0:
                continue
            vertices, _ = body.forward(
                motion.global_orient[person, chunk],
                motion.body_pose[person, chunk],
                np.repeat(motion.betas[person][None], len(chunk), axis=0),
                motion.transl[person, chunk],
            )
            seen[person, chunk] = _box_holds_a_pixel(
                vertices, motion.intrinsics, motion.extrinsics[chunk], height, width
            )
    return seen


def _box_holds_a_pixel(vertices, intrinsics, extrinsics, height: int, width: int) -> np.ndarray:
    """(N,) bool: the projected box of each mesh's in-front vertices, clipped to the image, holds a pixel centre
    and is at least a pixel wide and high."""
    vertices = np.asarray(vertices, dtype=np.float64)
    rotation, translation = extrinsics[:, None, :3, :3].astype(np.float64), extrinsics[:, None, :3, 3]
    points = np.einsum("nvij,nvj->nvi", np.broadcast_to(rotation, (*vertices.shape[:2], 3, 3)), vertices)
    points = points + translation
    front = points[..., 2] > NEAR
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = np.einsum("ij,nvj->nvi", np.asarray(intrinsics, np.float64), points)
        uv = pixels[..., :2] / pixels[..., 2:]
    uv[~front] = np.nan
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a mesh wholly behind the camera: all NaN
        lo, hi = np.nanmin(uv, axis=1), np.nanmax(uv, axis=1)
    lo = np.maximum(lo, -0.5)  # clipped to the image's edges (pixel centres 0..W-1, 0..H-1)
    hi = np.minimum(hi, [width - 0.5, height - 0.5])
    holds_centre = (np.ceil(lo) <= np.floor(hi)).all(axis=1)
    return front.any(axis=1) & holds_centre & (hi - lo >= 1.0).all(axis=1)


def apply_visibility(motion: Motion, body, motion_path: str | Path | None = None, cache_root=None) -> Motion:
    """Clear ``motion.valid`` where the person is not seen (in place; returned for chaining).

    Only a body model of the motion's own kind can pose it; with another kind (a source whose
    renders are all precomputed) the motion is left as it is. With ``motion_path`` the mask is
    cached under the file's sha256 and the body model's identity.
    """
    if body is None or body.kind != motion.body_model:
        return motion
    if motion_path is None:
        motion.valid &= seen_mask(motion, body)
        return motion
    from ..cache import NPZ, ContentCache
    from ..files import sha256_file

    stat = Path(body.path).stat()
    settings = {"body": str(Path(body.path).resolve()), "kind": body.kind, "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns, "near": NEAR, "rule": 2}  # fmt: skip
    cache = ContentCache("visibility", settings, NPZ, cache_root)
    cached = cache.get_or_compute(sha256_file(motion_path), lambda: {"seen": seen_mask(motion, body)})
    seen = np.asarray(cached["seen"], dtype=bool)
    if seen.shape != motion.valid.shape:  # a damaged entry: compute again
        seen = seen_mask(motion, body)
    motion.valid &= seen
    return motion
