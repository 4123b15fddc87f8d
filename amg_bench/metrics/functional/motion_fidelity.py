"""Motion fidelity on point tracks: the maths only (no tracker, no video, no model).

Definitions (Yatim et al. "DMT" and the AMG appendix):

- A tracklet is one point's positions over the ``T`` frames. Its displacements are the ``T - 1``
  differences of consecutive positions, each scaled to unit length. A zero displacement gives a
  zero vector (never NaN). The released DMT script divides by the norm unguarded, so one exactly
  static step turns its whole score into NaN; here such a step simply contributes 0.
- ``corr(a, b) = mean over the T - 1 steps of <u_a(t), u_b(t)>``, in [-1, 1]. For a
  tracklet with zero steps, its self-correlation is the fraction of its steps that move, so a
  static point never scores as a perfect match.
- ``chamfer`` (AMG appendix): ``0.5 * (mean_n max_m corr(g_n, r_m) + mean_m max_n corr(g_n, r_m))``.
- ``dmt`` (released DMT ``motion_fidelity_score.py``): ``mean_n max_m (C - I)[n, m]`` with
  ``C[n, m] = corr(g_n, r_m)``: one direction (generated -> reference), and the identity is
  subtracted from the correlation matrix, so the matched-index pair competes with ``corr - 1``
  rather than being removed outright (it can still win a row when every other pair is below
  ``corr - 1``). The DMT code subtracts an ``N x N`` identity, so it needs ``N == M``.
- Both are reported ×100.

Why hand-written: the DMT script is a three-line einsum, but ``einsum("ntc,mtc->nmt")`` then
``mean`` materialises ``N x M x (T-1)`` products (550 MB in float32 for 3,025 x 3,025 x 16
frames). Since the mean over steps of dot products is one inner product of the flattened
``(T-1) * 2`` unit-displacement vectors, ``C`` is a matrix product. We compute it ``chunk_size``
generated tracklets at a time and keep only row maxima and running column maxima, so peak extra
memory is ``chunk_size x M`` numbers whatever the video length. Arithmetic is float64 so results
do not depend on the chunking beyond the last bits.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ...checks import positive_int
from ...errors import MetricError
from ...results import MOTION_VARIANTS

VARIANTS = MOTION_VARIANTS
DEFAULT_CHUNK_SIZE = 256


def _as_tracks(tracks, name: str) -> torch.Tensor:
    """Validate ``(T, N, 2)`` finite tracks and return them as a float64 tensor."""
    if isinstance(tracks, np.ndarray):
        if tracks.dtype.kind not in "iuf":
            raise MetricError(f"{name} tracks must be real numbers, got {tracks.dtype}")
        tensor = torch.tensor(tracks, dtype=torch.float64)
    elif isinstance(tracks, torch.Tensor):
        if tracks.dtype.is_complex or tracks.dtype == torch.bool:
            raise MetricError(f"{name} tracks must be real numbers, got {tracks.dtype}")
        tensor = tracks.detach().to(torch.float64)
    else:
        raise MetricError(f"{name} tracks must be a torch.Tensor or numpy array, got {type(tracks).__name__}")
    if tensor.ndim != 3 or tensor.shape[-1] != 2:
        raise MetricError(f"{name} tracks must be shaped (T, N, 2), got {tuple(tensor.shape)}")
    if tensor.shape[0] < 2:
        raise MetricError(f"{name} tracks need at least 2 frames to have a displacement, got T={tensor.shape[0]}")
    if tensor.shape[1] < 1:
        raise MetricError(f"{name} tracks have no point (N=0)")
    if not bool(torch.isfinite(tensor).all()):
        raise MetricError(f"{name} tracks contain NaN or infinite positions")
    return tensor


def unit_displacements(tracks) -> torch.Tensor:
    """Unit displacement vectors of every tracklet.

    ``u[n, t] = d / |d|`` with ``d = tracks[t + 1, n] - tracks[t, n]``; ``u[n, t] = 0`` when ``d = 0``.

    Args:
        tracks: positions ``(T, N, 2)`` (tensor or array, any real dtype), T >= 2.

    Returns:
        float64 tensor ``(N, T - 1, 2)`` on the input's device.

    Raises:
        MetricError: wrong shape, fewer than 2 frames, or non-finite positions.

    >>> unit_displacements(np.array([[[0.0, 0.0]], [[3.0, 4.0]], [[3.0, 4.0]]])).tolist()
    [[[0.6, 0.8], [0.0, 0.0]]]
    """
    return _unit_displacements(_as_tracks(tracks, "input"))


def _unit_displacements(tracks: torch.Tensor) -> torch.Tensor:
    steps = (tracks[1:] - tracks[:-1]).transpose(0, 1)  # (N, T-1, 2)
    norms = torch.linalg.vector_norm(steps, dim=-1, keepdim=True)
    moving = norms > 0
    return torch.where(moving, steps / torch.where(moving, norms, torch.ones_like(norms)), torch.zeros_like(steps))


def correlation_matrix(generated, reference) -> torch.Tensor:
    """Full correlation matrix ``C[n, m] = corr(generated_n, reference_m)``, shape ``(N, M)``.

    Materialises ``N x M`` float64 values; :func:`motion_fidelity` never does. Meant for small
    inputs, inspection and tests.

    Raises:
        MetricError: bad shapes or different frame counts.
    """
    gen, ref = _check_pair(generated, reference)
    return _flat(_unit_displacements(gen)) @ _flat(_unit_displacements(ref)).T / (gen.shape[0] - 1)


def _flat(units: torch.Tensor) -> torch.Tensor:
    return units.reshape(units.shape[0], -1)


def _check_pair(generated, reference) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _as_tracks(generated, "generated")
    ref = _as_tracks(reference, "reference").to(gen.device)
    if gen.shape[0] != ref.shape[0]:
        raise MetricError(
            f"generated tracks have T={gen.shape[0]} frames but reference tracks have T={ref.shape[0]}; "
            "motion fidelity compares step t with step t, so both videos need the same frame count"
        )
    return gen, ref


def motion_fidelity_scores(
    generated,
    reference,
    variants: Iterable[str] = VARIANTS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict[str, float]:
    """Motion fidelity of generated tracks against reference tracks, ×100, for several variants.

    All variants share one pass over the correlation matrix (see the module docstring for the
    formulas). Only ``chunk_size x M`` correlations exist at any time.

    Args:
        generated: tracks ``(T, N, 2)`` of the generated video.
        reference: tracks ``(T, M, 2)`` of the reference video (same T; ``dmt`` needs M == N).
        variants: any of ``"chamfer"``, ``"dmt"``.
        chunk_size: generated tracklets per block (>= 1); memory knob, never changes results
            beyond float64 rounding.

    Returns:
        ``{variant: score}`` as Python floats; chamfer in [-100, 100], dmt in [-200, 100].

    Raises:
        MetricError: unknown variant, bad shapes, different T, non-finite tracks, ``dmt`` with
            N != M, or a chunk size below 1.

    >>> g = np.array([[[0, 0], [0, 0]], [[1, 0], [0, 2]], [[1, 1], [0, 2]]], dtype=float)
    >>> r = np.array([[[0, 0], [5, 5]], [[3, 0], [5, 4]], [[6, 0], [5, 5]]], dtype=float)
    >>> motion_fidelity_scores(g, r)
    {'chamfer': 37.5, 'dmt': 25.0}
    """
    wanted = check_variants(variants)
    chunk_size = positive_int(chunk_size, "chunk_size", MetricError)
    gen, ref = _check_pair(generated, reference)
    n, m = gen.shape[1], ref.shape[1]
    if "dmt" in wanted and n != m:
        raise MetricError(
            f"variant 'dmt' needs the same number of points in both videos (it subtracts an N x N identity), "
            f"got N={n} generated and M={m} reference points; use the same grid size or variant 'chamfer'"
        )
    steps = gen.shape[0] - 1
    gen_units = _flat(_unit_displacements(gen))
    ref_units_t = _flat(_unit_displacements(ref)).T.contiguous()

    row_best = torch.empty(n, dtype=torch.float64, device=gen.device)
    row_best_dmt = torch.empty(n, dtype=torch.float64, device=gen.device) if "dmt" in wanted else None
    col_best = torch.full((m,), -torch.inf, dtype=torch.float64, device=gen.device)
    for start in range(0, n, int(chunk_size)):
        stop = min(start + int(chunk_size), n)
        block = gen_units[start:stop] @ ref_units_t
        block /= steps
        row_best[start:stop] = block.max(dim=1).values
        torch.maximum(col_best, block.max(dim=0).values, out=col_best)
        if row_best_dmt is not None:
            rows = torch.arange(stop - start, device=gen.device)
            block[rows, rows + start] -= 1.0  # (C - I) restricted to this block of rows
            row_best_dmt[start:stop] = block.max(dim=1).values

    scores: dict[str, float] = {}
    if "chamfer" in wanted:
        scores["chamfer"] = 100.0 * float((row_best.mean() + col_best.mean()) / 2)
    if row_best_dmt is not None:
        scores["dmt"] = 100.0 * float(row_best_dmt.mean())
    return {v: scores[v] for v in wanted}


def motion_fidelity(generated, reference, variant: str = "chamfer", chunk_size: int = DEFAULT_CHUNK_SIZE) -> float:
    """Motion fidelity ×100 for one variant; see :func:`motion_fidelity_scores`.

    Raises:
        MetricError: as :func:`motion_fidelity_scores`.
    """
    return motion_fidelity_scores(generated, reference, (variant,), chunk_size)[variant]


def check_variants(variants: Iterable[str]) -> tuple[str, ...]:
    """Deduplicated tuple of known variant names.

    Raises:
        MetricError: an unknown variant or none at all.
    """
    if isinstance(variants, str):
        variants = (variants,)
    wanted = tuple(dict.fromkeys(variants))
    unknown = [v for v in wanted if v not in VARIANTS]
    if unknown or not wanted:
        raise MetricError(f"motion fidelity variant must be one of {list(VARIANTS)}, got {list(variants)!r}")
    return wanted


def describe_variants(variants: Iterable[str]) -> dict[str, str]:
    """One line per variant for results provenance."""
    text = {
        "chamfer": "AMG appendix: mean of the two directed best-corr means (gen->ref, ref->gen), x100",
        "dmt": "DMT release: mean over generated tracklets of max over reference of (corr - identity), x100",
    }
    return {v: text[v] for v in check_variants(variants)}
