"""Measure the palettes of a source's people on its real frames (the IO around :mod:`.appearance`).

The frames :func:`~amg_bench.data.appearance.sample_frames` picks are decoded by index (nothing
else of the video is read), centre-cropped and resized exactly as the dataset's clips are, and
each frame's people are posed and rasterised through the same camera as the ``avatar_video``
render (:func:`~amg_bench.data.render.surface_map`). The result depends on the source alone, so
every build unit of a source (in any process) measures the same palettes.
"""

from __future__ import annotations

import numpy as np

from ..video import center_crop_resize, read_frames
from .appearance import PALETTE_FRAMES, estimate_palette, face_parts, flat_palette, sample_frames
from .render import Camera, surface_map


def source_palettes(source, body, intrinsics: np.ndarray, resolution: int, style: str) -> np.ndarray:
    """uint8 ``(P, 24, 3)``: every person's palette for the avatar ``style`` (``flat``: their palette colour).

    Args:
        source: a loaded :class:`~amg_bench.data.sources.Source`.
        body: its body model.
        intrinsics: the camera of the stored ``resolution``-squared frames.

    Raises:
        VideoError: the source video cannot be decoded at the sampled frames.
    """
    motion = source.motion
    if style == "flat":
        return flat_palette(range(motion.num_people))
    picks = sample_frames(motion.valid, PALETTE_FRAMES)
    frames = center_crop_resize(read_frames(source.spec.video, picks), resolution) if len(picks) else []
    posed = {}
    for p in range(motion.num_people):
        mine = picks[motion.valid[p, picks]]
        if len(mine):
            vertices, _ = body.forward(
                motion.global_orient[p, mine],
                motion.body_pose[p, mine],
                np.broadcast_to(motion.betas[p], (len(mine), motion.betas.shape[1])),
                motion.transl[p, mine],
            )
            posed.update({(p, int(f)): v for f, v in zip(mine, vertices)})
    surfaces, people = [], []
    for frame in picks:
        shown = [p for p in range(motion.num_people) if motion.valid[p, frame]]
        camera = Camera(intrinsics, motion.extrinsics[frame], resolution, resolution)
        surfaces.append(surface_map([posed[(p, int(frame))] for p in shown], body.faces, camera))
        people.append(shown)
    parts = face_parts(body.faces, body.part_labels)
    return estimate_palette(list(frames), surfaces, people, parts, motion.num_people).colors
