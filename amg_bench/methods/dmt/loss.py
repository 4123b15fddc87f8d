"""DMT's space-time feature loss: spatial marginal means (SMM) and their frame-to-frame differences.

For one feature ``f`` of shape ``(T, C, H, W)`` (one video), the SMM of frame ``i`` is
``m_i = mean_{h, w} f[i]`` (a ``C``-vector). For every anchor frame ``i`` the differences
``d_ij = m_j - m_i`` over all ``j`` are compared between target and source by the cosine over
channels, and the loss is::

    L = 1/T sum_i ( 1 - 1/T sum_j cos(d_ij^target, d_ij^source) )

As in the release (``calculate_losses`` with ``features_diff_loss_weight: 1``,
``features_loss_weight: 0``), the anchor's own difference ``d_ii = 0`` counts with cosine 0
(``F.cosine_similarity`` of two zero vectors), so equal target and source features give the floor
``1/T``, not 0; the gradient there is zero all the same. The total is the sum over the guidance
features. Pure torch: no model, no IO. Computed in float32 (the release upcasts the loss too).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ...errors import MethodError


def spatial_marginal_mean(features: torch.Tensor) -> torch.Tensor:
    """``(T, C, H, W)`` -> ``(T, C)``: the mean over height and width of every frame."""
    return features.float().mean(dim=(2, 3))


def smm_difference_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss ``L`` above for one feature; ``source`` and ``target`` are ``(T, C, H, W)``.

    The source is treated as a constant (no gradient flows into it).

    Raises:
        MethodError: the shapes differ or are not 4-dimensional.
    """
    if source.shape != target.shape or source.ndim != 4:
        raise MethodError(
            f"SMM loss needs two (T, C, H, W) features of one shape, got {tuple(source.shape)} and "
            f"{tuple(target.shape)}"
        )
    source_means = spatial_marginal_mean(source.detach())
    target_means = spatial_marginal_mean(target)
    # (anchor i, frame j, C): m_j - m_i
    source_diffs = source_means[None, :, :] - source_means[:, None, :]
    target_diffs = target_means[None, :, :] - target_means[:, None, :]
    cosine = F.cosine_similarity(target_diffs, source_diffs, dim=-1)  # (T, T), 0 on the diagonal
    return (1.0 - cosine.mean(dim=1)).mean()


def motion_loss(source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Sum of :func:`smm_difference_loss` over the features both mappings hold (``(T, C, H, W)`` each).

    Raises:
        MethodError: the two mappings name different features, or none.
    """
    if set(source) != set(target) or not source:
        raise MethodError(f"source and target features differ: {sorted(source)} vs {sorted(target)}")
    return sum(smm_difference_loss(source[name], target[name]) for name in source)
