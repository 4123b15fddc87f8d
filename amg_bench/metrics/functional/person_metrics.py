"""Per-person identity and pose scores on embeddings and keypoints: the maths only (no model, no video).

Identity (DINOv2 embeddings of each person's masked crop, one per person and frame):
- ``identity_consistency`` = 100 x the mean, over people and their kept frames, of
  ``cos(e[p, t], e[p, 0])``: does each person still look like they did in frame 0?
- ``identity_swap_rate`` = 100 x the share of kept ``(frame, person)`` pairs whose embedding is
  closer to *another* person's frame-0 embedding than to its own; only clips with at least two
  people with a frame-0 crop count (``None`` otherwise). A person not kept in frame 0 has no
  reference and does not count. Frame 0 counts in both means (a person matches themselves
  there), so two people who exchange looks halfway through a clip score a swap rate of 50%.

Pose (keypoints of a top-down detector on the real and the generated frames, in the same boxes):
- targets are the keypoints confident (score >= threshold) in the real frame;
- ``pose_pck`` = 100 x the share of targets whose generated keypoint lies within
  ``alpha * max(box width, box height)`` of the real one;
- ``pose_akd`` = their mean distance in pixels (average keypoint distance);
- ``pose_mkr`` = 100 x the share of targets not detected (score < threshold) in the generated
  frame (missing keypoint rate), as in the AKD / MKR tradition of pose-transfer work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import MetricError


def masked_crop(frame: np.ndarray, mask: np.ndarray, box: np.ndarray, fill: tuple[int, int, int]) -> np.ndarray:
    """The ``box`` (``u0, v0, u1, v1`` inclusive pixels) of ``frame`` with pixels outside ``mask`` set to ``fill``.

    >>> frame = np.arange(2 * 3 * 3).reshape(2, 3, 3).astype(np.uint8)
    >>> mask = np.array([[True, False, True], [False, False, False]])
    >>> masked_crop(frame, mask, np.array([0, 0, 1, 0]), (9, 9, 9)).tolist()
    [[[0, 1, 2], [9, 9, 9]]]
    """
    u0, v0, u1, v1 = (int(v) for v in box)
    crop = frame[v0 : v1 + 1, u0 : u1 + 1].copy()
    crop[~mask[v0 : v1 + 1, u0 : u1 + 1]] = fill
    return crop


@dataclass(frozen=True)
class IdentityScores:
    consistency: float | None
    swap_rate: float | None
    pairs: int


def _normalise(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return embeddings / norms


def identity_scores(embeddings: np.ndarray, kept: np.ndarray) -> IdentityScores:
    """Identity consistency and swap rate (see the module docstring).

    Args:
        embeddings: float ``(P, T, D)`` per person and frame (anything where not ``kept``).
        kept: bool ``(P, T)``, the crops that were visible enough to embed.

    Returns:
        :class:`IdentityScores`; ``consistency`` is ``None`` when no person has a kept frame 0
        and a later kept frame, ``swap_rate`` when fewer than two people have a frame-0 crop.

    Raises:
        MetricError: mismatched shapes.

    >>> e = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
    ...               [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]])
    >>> identity_scores(e, np.ones((2, 4), bool))  # the two people exchange looks from frame 2 on
    IdentityScores(consistency=50.0, swap_rate=50.0, pairs=8)
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    if embeddings.ndim != 3 or kept.shape != embeddings.shape[:2]:
        raise MetricError(f"embeddings must be (P, T, D) and kept (P, T), got {embeddings.shape} and {kept.shape}")
    unit = _normalise(embeddings)
    people = np.flatnonzero(kept[:, 0])
    if not people.size:
        return IdentityScores(None, None, 0)
    frames = kept[people]  # (P', T)
    sims = np.einsum("ptd,qd->ptq", unit[people], unit[people, 0])  # similarity of (p, t) to each frame-0 crop
    index = np.arange(len(people))
    own = sims[index, :, index]  # (P', T)
    consistency = 100.0 * float(own[frames].mean())
    swap = None
    if len(people) >= 2:
        others = sims.copy()
        others[index, :, index] = -np.inf
        swap = 100.0 * float((others.max(axis=2) > own)[frames].mean())
    return IdentityScores(consistency, swap, int(frames.sum()))


@dataclass(frozen=True)
class PoseScores:
    pck: float | None
    akd: float | None
    mkr: float | None
    targets: int


def pose_scores(
    real_xy: np.ndarray,
    real_score: np.ndarray,
    generated_xy: np.ndarray,
    generated_score: np.ndarray,
    box_side: np.ndarray,
    threshold: float,
    alpha: float = 0.1,
) -> PoseScores:
    """PCK, AKD and MKR of generated against real keypoints (see the module docstring).

    Args:
        real_xy, generated_xy: float ``(..., K, 2)`` keypoint positions in pixels.
        real_score, generated_score: float ``(..., K)`` detector confidences.
        box_side: float ``(...)``, the larger side of each keypoint set's box in pixels.
        threshold: confidence that makes a keypoint detected.
        alpha: PCK tolerance as a share of the box side.

    Returns:
        :class:`PoseScores` (all ``None`` when no keypoint is confident in the real frames).

    Raises:
        MetricError: mismatched shapes.

    >>> real = np.array([[[10.0, 10.0], [20.0, 20.0]]])
    >>> generated = real + [[3.0, 4.0], [0.0, 1.0]]
    >>> pose_scores(real, np.array([[0.9, 0.9]]), generated, np.array([[0.9, 0.1]]), np.array([40.0]), 0.5)
    PoseScores(pck=50.0, akd=3.0, mkr=50.0, targets=2)
    """
    real_xy, generated_xy = np.asarray(real_xy, np.float64), np.asarray(generated_xy, np.float64)
    real_score, generated_score = np.asarray(real_score, np.float64), np.asarray(generated_score, np.float64)
    box_side = np.asarray(box_side, np.float64)
    if (
        real_xy.shape != generated_xy.shape
        or real_xy.shape[-1] != 2
        or real_score.shape != real_xy.shape[:-1]
        or generated_score.shape != real_score.shape
        or box_side.shape != real_score.shape[:-1]
    ):
        raise MetricError(
            f"keypoint shapes disagree: real {real_xy.shape}, generated {generated_xy.shape}, "
            f"scores {real_score.shape} / {generated_score.shape}, boxes {box_side.shape}"
        )
    targets = real_score >= threshold
    count = int(targets.sum())
    if count == 0:
        return PoseScores(None, None, None, 0)
    distance = np.linalg.norm(generated_xy - real_xy, axis=-1)
    tolerance = alpha * np.broadcast_to(box_side[..., None], distance.shape)
    pck = 100.0 * float((distance <= tolerance)[targets].mean())
    akd = float(distance[targets].mean())
    mkr = 100.0 * float((generated_score < threshold)[targets].mean())
    return PoseScores(pck, akd, mkr, count)
