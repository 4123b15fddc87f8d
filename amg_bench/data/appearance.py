"""Avatars that carry appearance: one colour per person and body part, measured on the real frames.

The paper's condition is a textured avatar, so it tells the model what each person wears. The
``appearance`` avatar style gets close to that with the SMPL-format body alone: each of the 24
body parts (SMPL joints, by dominant skinning weight) of each person takes a colour measured on
the real pixels it covers, and the mesh is rendered through per-vertex colours with the
renderer's usual light. ``flat`` keeps one palette colour per person.

How a palette is measured (pure: frames and :class:`~amg_bench.data.render.SurfaceMap` in, colours out):

1. per frame, each person's visible silhouette (the z-buffer of all people of the frame, so
   an occluded part does not count) is eroded by :func:`erosion_radius` pixels (a square
   structuring element), so edge pixels, where a fitted mesh and the real body disagree most,
   are left out;
2. each remaining pixel is divided by the renderer's light factor at that pixel, which gives
   the surface colour that renders as the observed one (a render is ``rint(255 c light)``);
3. a part seen on at least :data:`MIN_PIXELS` pixels of a frame gets that frame's per-channel
   median; its colour is the per-channel median over the frames it was seen in. A part that
   never shows inside the eroded silhouette (thin hands, feet, a neck) is measured the same
   way on all its visible pixels;
4. a part never seen inherits its nearest seen ancestor in the SMPL tree; a person whose root
   chain was never seen takes the median of their seen parts, and a person never seen at all
   the flat colour of their index.

The palette of every person is stored in each row (``appearance_colors``: per person, 24
parts, RGB), so a new render of that person (new motion, new camera) looks the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import BuildError
from .body_model import NUM_JOINTS, SMPL_PARENTS
from .render import PERSON_COLORS, SurfaceMap

STYLES = ("appearance", "flat")
DEFAULT_STYLE = "appearance"
NUM_PARTS = NUM_JOINTS  # one colour per SMPL joint's part
PALETTE_FRAMES = 24  # frames sampled per person over the source, evenly among their valid frames
ERODE_FRACTION = 1 / 128  # silhouette erosion radius per pixel of the frame's side: 2 px at 256, 1 px at 64
MIN_PIXELS = 3  # eroded pixels a part needs in a frame to be counted as seen there


def check_style(style: str) -> str:
    """``style`` if it is an avatar style.

    Raises:
        BuildError: naming the value and the styles.
    """
    if style not in STYLES:
        raise BuildError(f"avatar style must be one of {list(STYLES)}, got {style!r}")
    return style


def sample_frames(valid: np.ndarray, count: int = PALETTE_FRAMES) -> np.ndarray:
    """Frames to measure a source's palettes on: per person, ``count`` evenly spread valid frames; their union.

    Person ``p`` with valid frames ``v_0 < ... < v_{n-1}`` contributes ``v_i`` for
    ``i = round(j (n - 1) / (count - 1))``, ``j = 0 .. count - 1`` (all of them when ``n <= count``).

    >>> sample_frames(np.array([[True] * 10, [False] * 8 + [True] * 2]), count=3).tolist()
    [0, 4, 8, 9]
    """
    valid = np.asarray(valid, dtype=bool)
    picks: set[int] = set()
    for person in valid:
        frames = np.flatnonzero(person)
        if len(frames) <= count:
            picks.update(frames.tolist())
        elif count == 1:
            picks.add(int(frames[0]))
        else:
            picks.update(frames[np.round(np.arange(count) * (len(frames) - 1) / (count - 1)).astype(int)].tolist())
    return np.array(sorted(picks), dtype=np.int64)


def erosion_radius(height: int, width: int) -> int:
    """Silhouette erosion radius in pixels: :data:`ERODE_FRACTION` of the shorter side, at least 1.

    >>> erosion_radius(256, 256), erosion_radius(64, 64)
    (2, 1)
    """
    return max(1, round(ERODE_FRACTION * min(height, width)))


def face_parts(faces: np.ndarray, part_labels: np.ndarray) -> np.ndarray:
    """(F,) body part (SMPL joint 0..23) of each face: the part of its first vertex."""
    return np.asarray(part_labels, dtype=np.int64)[np.asarray(faces, dtype=np.int64)[:, 0]]


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    if radius <= 0:
        return mask
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


@dataclass(frozen=True)
class Palette:
    """Per person and part: ``colors`` uint8 ``(P, 24, 3)`` and how many frames each part was seen in (``frames``)."""

    colors: np.ndarray
    frames: np.ndarray

    @property
    def seen(self) -> np.ndarray:
        return self.frames > 0


def estimate_palette(
    frames: Sequence[np.ndarray],
    surfaces: Sequence[SurfaceMap],
    mesh_people: Sequence[Sequence[int]],
    parts_of_faces: np.ndarray,
    num_people: int,
    erode: int | None = None,
    min_pixels: int = MIN_PIXELS,
) -> Palette:
    """Measure every person's part colours on real frames (steps 1-4 of the module docstring).

    Args:
        frames: real frames, uint8 ``(H, W, 3)`` each.
        surfaces: per frame, the :func:`~amg_bench.data.render.surface_map` of that frame's
            meshes, at the frame's size.
        mesh_people: per frame, the person index (0..P-1) of each mesh of its surface map.
        parts_of_faces: (F,) body part 0..23 of each face (:func:`face_parts`).
        num_people: P.
        erode: erosion radius in pixels (default :func:`erosion_radius` of the frame size).
        min_pixels: eroded pixels a part needs in a frame to count as seen there.

    Raises:
        BuildError: inconsistent lengths or sizes.
    """
    if not len(frames) == len(surfaces) == len(mesh_people):
        raise BuildError(
            f"palette: {len(frames)} frames, {len(surfaces)} surface maps and {len(mesh_people)} person lists"
        )
    parts_of_faces = np.asarray(parts_of_faces, dtype=np.int64)
    # samples[tier][person][part]: per-frame medians inside the eroded silhouette (tier 0) and on
    # all visible pixels (tier 1, used only for parts never seen in tier 0: thin hands, feet, neck)
    samples = [[[[] for _ in range(NUM_PARTS)] for _ in range(num_people)] for _ in range(2)]
    for index, (frame, surface, people) in enumerate(zip(frames, surfaces, mesh_people)):
        frame = np.asarray(frame)
        if frame.shape != (*surface.person.shape, 3):
            raise BuildError(f"palette: frame {index} is {frame.shape}, its surface map {surface.person.shape}")
        light = np.where(surface.light > 0, surface.light, 1.0)
        albedo = frame.astype(np.float64) / light[..., None]
        part = np.where(surface.face >= 0, parts_of_faces[np.maximum(surface.face, 0)], -1)
        radius = erosion_radius(*frame.shape[:2]) if erode is None else erode
        for mesh, person in enumerate(people):
            silhouette = surface.person == mesh
            for tier, mask in enumerate((_erode(silhouette, radius), silhouette)):
                labels, colours = part[mask], albedo[mask]
                for k in np.unique(labels):
                    chosen = labels == k
                    if chosen.sum() >= min_pixels:
                        samples[tier][person][int(k)].append(np.median(colours[chosen], axis=0))
    colors = np.zeros((num_people, NUM_PARTS, 3), dtype=np.float64)
    counts = np.zeros((num_people, NUM_PARTS), dtype=np.int64)
    for p in range(num_people):
        for k in range(NUM_PARTS):
            found = samples[0][p][k] or samples[1][p][k]
            if found:
                colors[p, k] = np.median(np.stack(found), axis=0)
                counts[p, k] = len(found)
    filled = (
        np.stack([complete_palette(colors[p], counts[p] > 0, p) for p in range(num_people)]) if num_people else colors
    )
    return Palette(np.clip(np.rint(filled), 0, 255).astype(np.uint8).reshape(num_people, NUM_PARTS, 3), counts)


def complete_palette(colors: np.ndarray, seen: np.ndarray, person_index: int) -> np.ndarray:
    """Fill a person's unseen parts (step 4): nearest seen ancestor, else the seen parts' median, else flat.

    >>> colors = np.zeros((24, 3)); colors[4] = 200.0; seen = np.zeros(24, bool); seen[4] = True
    >>> out = complete_palette(colors, seen, 0)
    >>> out[7].tolist(), out[0].tolist()  # the left ankle inherits the left knee; the root has no seen ancestor
    ([200.0, 200.0, 200.0], [200.0, 200.0, 200.0])
    """
    colors = np.array(colors, dtype=np.float64)
    seen = np.asarray(seen, dtype=bool)
    if not seen.any():
        return np.repeat(PERSON_COLORS[person_index % len(PERSON_COLORS)][None].astype(np.float64), NUM_PARTS, axis=0)
    fallback = np.median(colors[seen], axis=0)
    out = colors.copy()
    for k in range(NUM_PARTS):
        if seen[k]:
            continue
        parent = SMPL_PARENTS[k]
        while parent >= 0 and not seen[parent]:
            parent = SMPL_PARENTS[parent]
        out[k] = colors[parent] if parent >= 0 else fallback
    return out


def flat_palette(person_indices: Sequence[int]) -> np.ndarray:
    """uint8 ``(P, 24, 3)``: the ``flat`` style's palette, every part in the person's palette colour."""
    indices = np.asarray(list(person_indices), dtype=np.int64)
    return np.repeat(PERSON_COLORS[indices % len(PERSON_COLORS)][:, None], NUM_PARTS, axis=1)


def vertex_colors(palette: np.ndarray, part_labels: np.ndarray) -> np.ndarray:
    """(V, 3) float64 RGB in [0, 1] of one person's vertices from their ``(24, 3)`` uint8 palette."""
    palette = np.asarray(palette)
    if palette.shape != (NUM_PARTS, 3):
        raise BuildError(f"a person's palette must be ({NUM_PARTS}, 3) RGB, got shape {palette.shape}")
    return palette.astype(np.float64)[np.asarray(part_labels, dtype=np.int64)] / 255.0


def check_palettes(value, num_people: int, where: str, error: type[Exception] = BuildError) -> np.ndarray:
    """A stored ``appearance_colors`` value as uint8 ``(P, 24, 3)``.

    Raises:
        error: the value is not ``num_people`` palettes of 24 RGB colours in 0..255, naming ``where``.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise error(f"{where}: appearance_colors is not numeric ({exc})") from exc
    if array.shape != (num_people, NUM_PARTS, 3) or not np.isfinite(array).all() or array.min(initial=0) < 0:
        raise error(f"{where}: appearance_colors must be ({num_people}, {NUM_PARTS}, 3) RGB, got shape {array.shape}")
    if array.max(initial=0) > 255 or (array != np.rint(array)).any():
        raise error(f"{where}: appearance_colors must hold integers 0..255")
    return array.astype(np.uint8)
