"""Gallery overlays: a gallery video with its people's masks tinted and their keypoints drawn.

People would rather look than read a number, so the page can swap every gallery video for its
overlay (a toggle). Masks are re-rendered from the dataset rows (the one source of person regions,
:mod:`amg_bench.data.person_regions`) when the page is built with ``--dataset``; keypoints come
from the runs scored with the pose metrics, which store each clip's boxes and keypoints in
``people/<clip_id>.npz``: the real clip shows the real frames' keypoints, a method's column the
keypoints found in its own frames. No model runs here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..video import encode_mp4, read_video

#: COCO-17 limbs, as keypoint index pairs.
SKELETON = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
            (11, 13), (13, 15), (12, 14), (14, 16))  # fmt: skip
TINTS = np.array([(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (213, 94, 0), (204, 121, 167)],
                 dtype=np.float32)  # fmt: skip
OVERLAYS_DIR = "overlays"


def draw_overlay(
    frames: np.ndarray,
    masks: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    xy: np.ndarray | None = None,
    score: np.ndarray | None = None,
    threshold: float = 0.3,
) -> np.ndarray:
    """``frames`` (uint8 ``(T, H, W, 3)``) with masks ``(P, T, H, W)`` tinted, boxes ``(P, T, 4)`` outlined and
    keypoints ``(P, T, 17, 2)`` (with ``score >= threshold``) drawn with their limbs; each part optional."""
    import cv2

    out = frames.astype(np.float32)
    people = next((len(a) for a in (masks, boxes, xy) if a is not None), 0)
    for p in range(people):
        tint = TINTS[p % len(TINTS)]
        if masks is not None:
            out[masks[p]] = 0.55 * out[masks[p]] + 0.45 * tint
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    for t in range(len(out)):
        image = np.ascontiguousarray(out[t])
        for p in range(people):
            colour = tuple(int(c) for c in TINTS[p % len(TINTS)])
            if boxes is not None and not np.isnan(boxes[p, t]).any():
                u0, v0, u1, v1 = (int(v) for v in boxes[p, t])
                cv2.rectangle(image, (u0, v0), (u1, v1), colour, 1)
            if xy is not None:
                good = (score[p, t] >= threshold) & np.isfinite(xy[p, t]).all(axis=1)
                points = np.rint(np.nan_to_num(xy[p, t])).astype(int)
                for a, b in SKELETON:
                    if good[a] and good[b]:
                        cv2.line(image, tuple(points[a]), tuple(points[b]), (255, 255, 255), 1, cv2.LINE_AA)
                for k in np.flatnonzero(good):
                    cv2.circle(image, tuple(points[k]), 2, colour, -1, cv2.LINE_AA)
        out[t] = image
    return out


def load_people(results_path: Path, clip_id: str) -> dict[str, np.ndarray] | None:
    """The stored boxes and keypoints of a clip in a run, ``None`` when the run has none."""
    path = results_path.parent / "people" / f"{clip_id}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_overlay(
    out_dir: str | os.PathLike,
    slug: str,
    clip_id: str,
    video: bytes,
    fps: float,
    masks=None,
    people: dict | None = None,
    keypoints: str = "xy",
    threshold: float = 0.3,
) -> str:
    """Encode the overlay of one gallery cell to ``overlays/<slug>/<clip_id>.mp4``; return its relative link."""
    from ..files import write_bytes

    frames = read_video(video)
    boxes = xy = score = None
    if people is not None:
        boxes, xy = people["boxes"], people[keypoints]
        score = people["score" if keypoints == "xy" else "real_score"]
    if masks is not None and masks.shape[2:] != frames.shape[1:3]:
        masks = None  # rendered for another size: leave them out rather than misplace them
    drawn = draw_overlay(frames, masks, boxes, xy, score, threshold)
    relative = f"{OVERLAYS_DIR}/{slug}/{clip_id}.mp4"
    write_bytes(Path(out_dir) / relative, encode_mp4(drawn, fps))
    return relative
