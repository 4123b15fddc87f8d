"""Motion fidelity maths: hand-computed cases, invariants, chunking, errors."""

import itertools

import numpy as np
import pytest
import torch

from amg_bench.errors import MetricError
from amg_bench.metrics.functional.motion_fidelity import (
    correlation_matrix,
    motion_fidelity,
    motion_fidelity_scores,
    unit_displacements,
)


def tracks_from(*tracklets):
    """Stack per-point position lists [(x, y), ...] into (T, N, 2)."""
    return np.array(tracklets, dtype=float).transpose(1, 0, 2)


# g0 steps (1,0),(0,1); g1 steps (0,2)->(0,1) then a zero step -> (0,0)
GEN = tracks_from([(0, 0), (1, 0), (1, 1)], [(0, 0), (0, 2), (0, 2)])
# r0 steps (1,0),(1,0); r1 steps (0,-1),(0,1)
REF = tracks_from([(0, 0), (3, 0), (6, 0)], [(5, 5), (5, 4), (5, 5)])
# By hand, corr = mean over the 2 steps of the dot products:
#   C[g0,r0] = (1 + 0)/2 = 0.5    C[g0,r1] = (0 + 1)/2 = 0.5
#   C[g1,r0] = (0 + 0)/2 = 0      C[g1,r1] = (-1 + 0)/2 = -0.5
# chamfer: rows best (0.5, 0) -> 0.25; columns best (0.5, 0.5) -> 0.5; (0.25 + 0.5)/2 * 100 = 37.5
# dmt: C - I = [[-0.5, 0.5], [0, -1.5]]; rows best (0.5, 0) -> 0.25 * 100 = 25.0


def test_hand_case_both_variants():
    assert motion_fidelity(GEN, REF, "chamfer") == 37.5
    assert motion_fidelity(GEN, REF, "dmt") == 25.0
    assert motion_fidelity_scores(GEN, REF) == {"chamfer": 37.5, "dmt": 25.0}
    np.testing.assert_array_equal(correlation_matrix(GEN, REF).numpy(), [[0.5, 0.5], [0.0, -0.5]])


def test_dmt_subtracts_identity_rather_than_dropping_the_pair():
    # g0 = r0 move right, g1 = r1 move left (one step). C = [[1, -1], [-1, 1]].
    # C - I = [[0, -1], [-1, 0]]: the matched pair still wins each row with 1 - 1 = 0 -> dmt 0.
    # (Dropping the pair would leave -1 -> -100.) chamfer: every best is 1 -> 100.
    gen = tracks_from([(0, 0), (1, 0)], [(9, 9), (8, 9)])
    assert motion_fidelity(gen, gen, "dmt") == 0.0
    assert motion_fidelity(gen, gen, "chamfer") == 100.0


def test_chamfer_with_different_point_counts():
    # One generated step (3,4)/5 = (0.6, 0.8); reference steps (1,0), (0,-1), (-0.8, 0.6).
    # corr = 0.6, -0.8, 0. gen->ref best 0.6; ref->gen bests 0.6, -0.8, 0 -> mean -0.2/3.
    # chamfer = 100 * (0.6 - 0.2/3) / 2 = 80/3.
    gen = tracks_from([(0, 0), (3, 4)])
    ref = tracks_from([(0, 0), (1, 0)], [(2, 2), (2, 0)], [(4, 0), (0, 3)])
    assert motion_fidelity(gen, ref, "chamfer") == pytest.approx(80 / 3, abs=1e-12)
    with pytest.raises(MetricError, match="N=1 generated and M=3"):
        motion_fidelity(gen, ref, "dmt")


def random_walks(seed, frames=16, points=40, drift=(0.0, 0.0)):
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(frames - 1, points, 2)) + np.asarray(drift)
    start = rng.uniform(0, 256, size=(1, points, 2))
    return np.concatenate([start, start + np.cumsum(steps, axis=0)])


def test_identical_tracks_chamfer_100_and_dmt_below():
    tracks = random_walks(0)
    scores = motion_fidelity_scores(tracks, tracks)
    assert abs(scores["chamfer"] - 100.0) <= 1e-9  # exactly 100 up to float64 rounding
    assert scores["dmt"] < 99.0  # the self-match is worth corr - 1 = 0; the next best is another walk


def test_time_reversed_motion_is_negative():
    tracks = random_walks(1, drift=(2.0, 0.5))  # everything moves right-ish
    reversed_tracks = tracks[::-1].copy()
    scores = motion_fidelity_scores(reversed_tracks, tracks)
    assert scores["chamfer"] < 0
    assert scores["dmt"] < 0


def test_zero_motion_is_finite():
    still = np.repeat(np.random.default_rng(2).uniform(0, 64, (1, 9, 2)), 6, axis=0)
    scores = motion_fidelity_scores(still, still)
    # every corr is 0 (zero vectors); dmt's diagonal is 0 - 1, so each row's best is 0
    assert scores == {"chamfer": 0.0, "dmt": 0.0}
    moving = random_walks(3, frames=6, points=9)
    for pair in ((still, moving), (moving, still)):
        assert all(np.isfinite(v) for v in motion_fidelity_scores(*pair).values())


def test_unit_displacements_zero_step_is_zero_vector():
    units = unit_displacements(tracks_from([(0, 0), (3, 4), (3, 4), (3, 2)]))
    np.testing.assert_allclose(units.numpy(), [[[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]]])
    assert not torch.isnan(units).any()


def naive_scores(gen, ref):
    """Straight from the definition, with Python loops."""

    def unit(v):
        n = np.hypot(*v)
        return v / n if n > 0 else np.zeros(2)

    T, N, M = gen.shape[0], gen.shape[1], ref.shape[1]
    C = np.zeros((N, M))
    for n, m in itertools.product(range(N), range(M)):
        C[n, m] = np.mean([unit(gen[t + 1, n] - gen[t, n]) @ unit(ref[t + 1, m] - ref[t, m]) for t in range(T - 1)])
    chamfer = 100 * (C.max(1).mean() + C.max(0).mean()) / 2
    dmt = 100 * (C - np.eye(N)).max(1).mean() if N == M else None
    return chamfer, dmt


@pytest.mark.parametrize("chunk_size", [1, 5, 37, 10_000])
def test_chunked_equals_unchunked_and_definition(chunk_size):
    gen, ref = random_walks(4, frames=7, points=37), random_walks(5, frames=7, points=37)
    gen[:, 3] = gen[0, 3]  # a static point
    ref[2:4, 7] = ref[2, 7]  # a point that pauses
    whole = motion_fidelity_scores(gen, ref, chunk_size=10_000)
    chunked = motion_fidelity_scores(gen, ref, chunk_size=chunk_size)
    for variant in whole:
        assert chunked[variant] == pytest.approx(whole[variant], abs=1e-10)
    chamfer, dmt = naive_scores(gen, ref)
    assert whole["chamfer"] == pytest.approx(chamfer, abs=1e-9)
    assert whole["dmt"] == pytest.approx(dmt, abs=1e-9)


def test_tensor_and_array_inputs_agree():
    gen, ref = random_walks(6, points=12), random_walks(7, points=12)
    from_arrays = motion_fidelity_scores(gen, ref)
    from_tensors = motion_fidelity_scores(torch.from_numpy(gen).float(), torch.from_numpy(ref).float())
    for variant in from_arrays:
        assert from_tensors[variant] == pytest.approx(from_arrays[variant], abs=1e-4)


@pytest.mark.parametrize(
    "gen, ref, kwargs, message",
    [
        (np.zeros((5, 3, 2)), np.zeros((6, 3, 2)), {}, "T=5 frames but reference tracks have T=6"),
        (np.zeros((5, 3)), np.zeros((5, 3, 2)), {}, r"generated tracks must be shaped \(T, N, 2\)"),
        (np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), {}, "at least 2 frames"),
        (np.full((3, 2, 2), np.nan), np.zeros((3, 2, 2)), {}, "generated tracks contain NaN"),
        (np.zeros((3, 2, 2)), np.zeros((3, 2, 2)), {"variants": ("dtw",)}, "variant must be one of"),
        (np.zeros((3, 2, 2)), np.zeros((3, 2, 2)), {"chunk_size": 0}, "chunk_size must be a positive integer"),
        ([[0, 0]], np.zeros((3, 2, 2)), {}, "torch.Tensor or numpy array, got list"),
    ],
)
def test_bad_inputs_raise_metric_error(gen, ref, kwargs, message):
    with pytest.raises(MetricError, match=message):
        motion_fidelity_scores(gen, ref, **kwargs)
