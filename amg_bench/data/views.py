"""New views of people: pose a :class:`~amg_bench.data.motion_files.MotionClip`, frame it, render it per frame.

The shared core of ``amg-bench render`` and the ``controls`` split: the same body model, the
same rasteriser and the same palettes as the dataset's own ``avatar_video`` renders, so a
person re-rendered under a new camera or motion looks as they do in the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .appearance import vertex_colors
from .cameras import Framing, frame_people
from .motion_files import MotionClip
from .render import Camera, render_people


def pose_people(body, clip: MotionClip) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(P, T, V, 3)`` and joints ``(P, T, 24, 3)`` (float32) of every person in every frame."""
    vertices, joints = [], []
    for p in range(clip.num_people):
        betas = np.broadcast_to(clip.betas[p], (clip.num_frames, clip.betas.shape[1]))
        v, j = body.forward(clip.global_orient[p], clip.body_pose[p], betas, clip.transl[p])
        vertices.append(v)
        joints.append(j)
    empty = (0, clip.num_frames)
    return (
        np.stack(vertices) if vertices else np.zeros((*empty, body.num_vertices, 3), np.float32),
        np.stack(joints) if joints else np.zeros((*empty, 24, 3), np.float32),
    )


def clip_framing(clip: MotionClip, vertices: np.ndarray) -> Framing:
    """The framing (:mod:`amg_bench.data.cameras`) of the people's visible vertices over the clip.

    Raises:
        MotionError: nobody is visible, or the directions are undefined.
    """
    shown = np.where(clip.visible[..., None, None], vertices, np.nan)  # (P, T, V, 3)
    points = np.moveaxis(shown, 0, 1).reshape(clip.num_frames, -1, 3)  # (T, P*V, 3)
    flat = vertices[clip.visible].reshape(-1, 3)
    centre = (flat.min(axis=0) + flat.max(axis=0)) / 2 if len(flat) else np.zeros(3)
    up, toward = clip.up_and_toward(centre)
    return frame_people(points, up, toward)


def render_views(
    body,
    vertices: np.ndarray,
    visible: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    height: int,
    width: int,
    palettes: np.ndarray | None = None,
    person_indices: Sequence[int] | None = None,
    mode: str = "shaded",
) -> np.ndarray:
    """uint8 ``(T, H, W, 3)``: the visible people of each frame rendered through that frame's extrinsics.

    Args:
        vertices: ``(P, T, V, 3)`` posed vertices; ``visible``: ``(P, T)``.
        palettes: uint8 ``(P, 24, 3)`` per-part colours (the ``appearance`` look), or ``None``
            for one flat colour per person (``PERSON_COLORS[person_indices[p] % 8]``).
        person_indices: palette index of each person in the flat look (default ``0 .. P-1``).
        mode: ``"shaded"`` (the condition) or ``"parts"`` (DensePose's convention, the pose video).
    """
    from .densepose import body_face_parts

    people = vertices.shape[0]
    indices = list(range(people)) if person_indices is None else list(person_indices)
    colours = None
    if palettes is not None and mode == "shaded":
        colours = [vertex_colors(palettes[p], body.part_labels) for p in range(people)]
    parts = body_face_parts(body).labels if mode == "parts" else None
    frames = []
    for t in range(len(extrinsics)):
        shown = [p for p in range(people) if visible[p, t]]
        camera = Camera(intrinsics, extrinsics[t], height, width)
        frames.append(
            render_people(
                [vertices[p, t] for p in shown],
                body.faces,
                camera,
                [indices[p] for p in shown],
                mode=mode,
                face_parts=parts,
                vertex_colors=None if colours is None else [colours[p] for p in shown],
            )
        )
    return np.stack(frames)
