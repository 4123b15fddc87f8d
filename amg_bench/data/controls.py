"""The ``controls`` split: test motions re-rendered under camera paths and motions no clip was filmed with.

For a fixed subset of test clips (:func:`control_windows`: ``count`` clips spread evenly over
the test split in row order, the first and the last included), each of :data:`CONTROL_VARIANTS`
gives one row:

- ``orbit:60``, ``orbit:180``, ``orbit:360``, ``zoom-in``, ``zoom-out``: the clip's motion under
  that camera path (:mod:`amg_bench.data.cameras`), framed on the clip's people, starting from
  the side of its own first camera;
- ``reverse``: the people's motion played backwards, seen through the clip's own cameras.

A row keeps its clip's ids, captions, people and palette (``appearance_colors``), holds the
motion (``smpl``) and cameras (``camera``) it was rendered with, names its variant
(``control``) and clip (``control_of``), and has no real video: ``video`` is empty, so it is
scored against its condition render (:mod:`amg_bench.evaluation`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .cameras import camera_frames, parse_camera_path
from .motion_files import MotionClip
from .windows import Window

CONTROL_VARIANTS = ("orbit:60", "orbit:180", "orbit:360", "zoom-in", "zoom-out", "reverse")
CONTROL_CLIPS = 8
CONTROL_SPLIT = "controls"


def control_windows(test_windows: Sequence[Window], count: int = CONTROL_CLIPS) -> list[Window]:
    """``count`` test windows spread evenly in row order: positions ``round(j (n - 1) / (count - 1))``.

    All of them when there are at most ``count``.

    >>> [w.start for w in control_windows([Window("s", i) for i in range(11)], 3)]
    [0, 5, 10]
    """
    windows = list(test_windows)
    if len(windows) <= count:
        return windows
    if count == 1:
        return windows[:1]
    picks = sorted({round(j * (len(windows) - 1) / (count - 1)) for j in range(count)})
    return [windows[i] for i in picks]


def variant_slug(variant: str) -> str:
    """``orbit:60`` -> ``orbit-60``: the suffix of a control row's clip id."""
    return variant.replace(":", "-")


def control_clip_id(clip_id: str, variant: str) -> str:
    """The clip id of a control row: ``<clip_id>.<variant slug>``.

    >>> control_clip_id("film_000120", "orbit:180")
    'film_000120.orbit-180'
    """
    return f"{clip_id}.{variant_slug(variant)}"


def window_clip(motion, people: Sequence[int], sampled: np.ndarray, num_betas: int) -> MotionClip:
    """The people of a window over its sampled source frames, as a :class:`MotionClip` (its camera kept)."""
    people = list(people)
    betas = np.zeros((len(people), num_betas))
    width = min(num_betas, motion.betas.shape[1])
    betas[:, :width] = motion.betas[people, :width]
    return MotionClip(
        global_orient=motion.global_orient[people][:, sampled].astype(np.float64),
        body_pose=motion.body_pose[people][:, sampled].astype(np.float64),
        betas=betas,
        transl=motion.transl[people][:, sampled].astype(np.float64),
        visible=np.ones((len(people), len(sampled)), dtype=bool),
        fps=float(motion.fps),
        person_ids=[motion.person_ids[p] for p in people],
        body_model=motion.body_model,
        camera_extrinsics=motion.extrinsics[sampled].astype(np.float64),
    )


def variant_view(clip: MotionClip, variant: str, framing, intrinsics, resolution: int) -> tuple[MotionClip, np.ndarray]:
    """The motion and ``(T, 4, 4)`` extrinsics of one control variant of a window's clip."""
    if variant == "reverse":
        return clip.reversed(), clip.camera_extrinsics
    path = parse_camera_path(variant)
    return clip, camera_frames(path, framing, intrinsics, resolution, resolution, clip.num_frames)
