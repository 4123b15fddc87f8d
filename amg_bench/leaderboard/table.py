"""The leaderboard as data: rows, protocol groups and ranks (pure; no IO, no rendering).

Scores are comparable only when they were measured the same way, so rows are grouped by
their protocol key (CLIP model, tracker and its settings, grid, comparison size, reference,
frames/fps, clip count, dataset split and fingerprint) and ranked only inside a group.
KLT rows (the offline approximation of CoTracker) therefore never share a group with
CoTracker rows. The paper's reported numbers stay in their own block and are never ranked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ResultsError
from .reported import ReportedTable
from .results import METRICS, Protocol, Results

METRIC_TITLES = {
    "clip_score": "CLIP score",
    "motion_fidelity_chamfer": "Motion fidelity (chamfer)",
    "motion_fidelity_dmt": "Motion fidelity (DMT)",
}
OFFLINE_APPROXIMATION = "KLT offline approximation of CoTracker, not comparable with CoTracker rows"


@dataclass(frozen=True)
class Cell:
    """A measured metric of one row: mean, 95% interval, clip count and rank in its group."""

    mean: float
    low: float
    high: float
    n: int
    rank: int

    def display(self, num_clips: int) -> str:
        """``mean ± half-width (#rank)``, adding ``n=`` when fewer clips were scored than run.

        >>> Cell(33.1, 32.0, 34.4, 14, 1).display(15)
        '33.10 ± 1.20 (#1, n=14)'
        """
        extra = f", n={self.n}" if self.n != num_clips else ""
        return f"{self.mean:.2f} ± {(self.high - self.low) / 2:.2f} (#{self.rank}{extra})"


@dataclass(frozen=True)
class Row:
    """One results file. ``label`` is unique on the board; ``slug`` is a safe folder name."""

    label: str
    slug: str
    results: Results
    group: str
    cells: dict[str, Cell]

    @property
    def method(self) -> str:
        return self.results.method

    def rank_in(self, metric: str) -> int | None:
        """Rank in its group by ``metric``; ``None`` when the row has no such score."""
        cell = self.cells.get(metric)
        return None if cell is None else cell.rank


@dataclass(frozen=True)
class ProtocolGroup:
    """Rows measured under the same protocol, best first (see :func:`build_table`)."""

    name: str
    description: str
    offline_approximation: bool
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Leaderboard:
    """Measured groups, the metric columns present, and the separate reported block."""

    groups: tuple[ProtocolGroup, ...]
    metrics: tuple[str, ...]
    rank_by: str
    reported: ReportedTable | None

    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(row for group in self.groups for row in group.rows)


def protocol_key(results: Results) -> tuple:
    """The settings two results must share to be ranked together (hashable)."""
    p = results.protocol
    clip = None if p.clip is None else (p.clip.model, p.clip.pretrained, p.clip.context_length)
    motion = None
    if p.motion is not None:
        m = p.motion
        config = json.dumps(m.tracker_config, sort_keys=True)
        motion = (m.tracker, config, m.grid_size, m.eval_size, m.reference)
    return (clip, motion, p.num_frames, p.fps, results.num_clips, results.split, results.fingerprint)


def _fps(fps: float) -> str:
    return f"{fps:g}"


def describe_protocol(results: Results) -> str:
    """One line naming every part of the protocol key, for tables and page headings."""
    p: Protocol = results.protocol
    parts = []
    if p.clip is not None:
        parts.append(f"CLIP {p.clip.model}/{p.clip.pretrained} (context {p.clip.context_length})")
    else:
        parts.append("CLIP not scored")
    if p.motion is not None:
        m = p.motion
        tracker = "CoTracker" if m.tracker == "cotracker" else f"KLT ({OFFLINE_APPROXIMATION})"
        config = json.dumps(m.tracker_config, sort_keys=True) if m.tracker_config else "defaults"
        parts.append(
            f"tracker {tracker} with settings {config}, grid {m.grid_size}x{m.grid_size}, "
            f"eval {m.eval_size[0]}x{m.eval_size[1]}, reference {m.reference}"
        )
    else:
        parts.append("motion not scored")
    parts.append(f"{p.num_frames} frames at {_fps(p.fps)} fps")
    parts.append(
        f"{results.num_clips} {results.split} clips of {results.dataset_id} (fingerprint {results.fingerprint})"
    )
    return "; ".join(parts)


def describe_reported(reported: ReportedTable) -> str:
    """The paper's protocol in the same words as :func:`describe_protocol`."""
    p: dict[str, Any] = reported.protocol
    clip, motion = p["clip"], p["motion"]
    config = json.dumps(motion["tracker_config"], sort_keys=True)
    hf_id = f", {clip['hf_id']}" if clip.get("hf_id") else ""
    return (
        f"CLIP {clip['model']}/{clip['pretrained']}{hf_id}; "
        f"tracker {motion['tracker']} with settings {config}, {motion['variant']} variant, "
        f"reference {motion['reference']}; "
        f"{p['num_frames']} frames at {_fps(p['fps'])} fps; {p['num_clips']} {p['split']} clips"
    )


def _competition_ranks(values: dict[str, float]) -> dict[str, int]:
    """Rank labels by value, higher first; equal values share a rank ("1224" ranking)."""
    ordered = sorted(values.values(), reverse=True)
    return {label: ordered.index(value) + 1 for label, value in values.items()}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "method"


def _labels(methods: Sequence[str], groups: Sequence[str]) -> list[tuple[str, str]]:
    """Unique display labels and folder slugs for rows given their method and group names.

    A method name used once is its own label; a repeated one gets its group (``amg [P2]``),
    and ``#2``, ``#3``... if it repeats inside a group too.
    """
    names = [m if methods.count(m) == 1 else f"{m} [{g}]" for m, g in zip(methods, groups)]
    seen: dict[str, int] = {}
    used_slugs: set[str] = set()
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        label = name if names.count(name) == 1 else f"{name} #{seen[name]}"
        slug = base = _slug(label)
        k = 2
        while slug in used_slugs:
            slug, k = f"{base}-{k}", k + 1
        used_slugs.add(slug)
        out.append((label, slug))
    return out


def build_table(
    results: Sequence[Results], reported: ReportedTable | None = None, rank_by: str = "motion_fidelity_dmt"
) -> Leaderboard:
    """Group results by protocol, rank each metric inside each group, order rows best first.

    Rows are ordered by their rank in ``rank_by``, then by their ranks in the other metrics
    (in :data:`METRICS` order); a row without a metric sorts after those that have it.
    Groups with CoTracker (or no tracker) come before KLT groups, otherwise in input order;
    they are named ``P1``, ``P2``... in that order.

    Raises:
        ResultsError: no results, or ``rank_by`` is not a known metric.
    """
    if not results:
        raise ResultsError("the leaderboard needs at least one results file")
    if rank_by not in METRICS:
        raise ResultsError(f"rank_by must be one of {list(METRICS)}, got {rank_by!r}")
    buckets: dict[tuple, list[int]] = {}
    for i, r in enumerate(results):
        buckets.setdefault(protocol_key(r), []).append(i)

    def is_klt(indices: list[int]) -> bool:
        motion = results[indices[0]].protocol.motion
        return motion is not None and motion.tracker == "klt"

    order = sorted(buckets.values(), key=lambda idx: (is_klt(idx), idx[0]))
    group_of = {i: f"P{g}" for g, indices in enumerate(order, start=1) for i in indices}
    labels = _labels([r.method for r in results], [group_of[i] for i in range(len(results))])
    sort_metrics = (rank_by,) + tuple(m for m in METRICS if m != rank_by)
    groups = []
    for indices in order:
        name = group_of[indices[0]]
        ranks = {}
        for metric in METRICS:
            means = {labels[i][0]: results[i].metrics[metric].mean for i in indices if metric in results[i].metrics}
            ranks[metric] = _competition_ranks(means)
        rows = []
        for i in indices:
            label, slug = labels[i]
            cells = {
                metric: Cell(s.mean, s.ci95[0], s.ci95[1], s.n, ranks[metric][label])
                for metric, s in results[i].metrics.items()
            }
            rows.append(Row(label, slug, results[i], name, cells))
        missing = len(results) + 1
        rows.sort(key=lambda row: ([row.cells[m].rank if m in row.cells else missing for m in sort_metrics], row.label))
        groups.append(ProtocolGroup(name, describe_protocol(results[indices[0]]), is_klt(indices), tuple(rows)))
    present = tuple(m for m in METRICS if any(m in r.metrics for r in results))
    return Leaderboard(tuple(groups), present, rank_by, reported)
