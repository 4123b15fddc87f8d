"""The leaderboard as data: rows, protocol groups and ranks (pure; no IO, no rendering).

Scores are comparable only when they were measured the same way, so rows are grouped by their
protocol key (protocol name, CLIP model, tracker and its settings, grid, comparison size,
reference, lost-point rule, frames/fps, the clips, dataset split and fingerprint) and ranked
only inside a group, and only among ``method`` rows: references (ground truth, the avatar render)
and calibrations (``frozen``, ``shuffled``) are shown as labelled rows beside them, unranked, so a
reader sees the ceiling and where "no motion" and "wrong motion" land. KLT rows (the offline
approximation of CoTracker) never share a group with CoTracker rows. Runs on a ``controls``
split (reference: the condition render, no real video) form their own groups, after the others:
how well a method follows camera paths and motions it never saw. The paper's reported
numbers stay in their own block and are never ranked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ResultsError
from ..results import METRICS, Results
from .reported import ReportedTable

SMALL_N = 20
OFFLINE_APPROXIMATION = "KLT offline approximation of CoTracker, not comparable with CoTracker rows"
CONTROLS_TITLE = (
    "controls split: test motions under camera paths (orbit, zoom) and reversed motion, no real video; "
    "scored against the condition render"
)
ROLE_LABELS = {"method": "", "reference": "reference", "calibration": "calibration"}


@dataclass(frozen=True)
class Cell:
    """A measured metric of one row: mean, 95% interval (``None``: one source), counts, rank."""

    mean: float
    low: float | None
    high: float | None
    n: int
    n_sources: int
    rank: int | None

    def display(self, num_clips: int) -> str:
        """``mean ± half-width (#rank)``; ``n=`` when fewer clips were scored than run.

        >>> Cell(33.1, 32.0, 34.4, 14, 3, 1).display(15)
        '33.10 ± 1.20 (#1, n=14)'
        >>> Cell(99.9, None, None, 18, 1, None).display(18)
        '99.90 (no interval: 1 source)'
        """
        extra = [f"#{self.rank}"] if self.rank is not None else []
        if self.n != num_clips:
            extra.append(f"n={self.n}")
        if self.low is None:
            text = f"{self.mean:.2f} (no interval: {self.n_sources} source)"
            return text if not extra else f"{text[:-1]}; {', '.join(extra)})"
        text = f"{self.mean:.2f} ± {(self.high - self.low) / 2:.2f}"
        return f"{text} ({', '.join(extra)})" if extra else text


@dataclass(frozen=True)
class Row:
    """One results file. ``label`` is unique on the board; ``slug`` is a unique, safe folder name."""

    label: str
    slug: str
    results: Results
    group: str
    cells: dict[str, Cell]

    @property
    def method(self) -> str:
        return self.results.method.name

    @property
    def role(self) -> str:
        return self.results.method.role

    def rank_in(self, metric: str) -> int | None:
        """Rank in its group by ``metric``; ``None`` for unranked rows or a missing score."""
        cell = self.cells.get(metric)
        return None if cell is None else cell.rank

    def points_dropped(self) -> str:
        """Mean query points dropped per clip as lost in the reference (of the grid), or ``""`` without motion."""
        dropped, scored = (self.results.diagnostics.get(k) for k in ("motion_points_dropped", "motion_points_scored"))
        if dropped is None:
            return ""
        total = f" of {dropped.mean + scored.mean:.0f}" if scored is not None else ""
        return f"{dropped.mean:.0f}{total}"

    def notes(self) -> list[str]:
        """What a reader must know to read this row's numbers."""
        notes = []
        if self.role != "method":
            notes.append(ROLE_LABELS[self.role])
        if self.results.method.reads_real_video:
            notes.append("reads the real clip")
        if not self.results.method.uses_prompt and "clip_score" in self.cells:
            notes.append("never reads the prompt: its CLIP score is not prompt following")
        if self.results.num_clips < SMALL_N:
            notes.append(f"n < {SMALL_N} clips")
        if self.results.failures:
            notes.append(f"{len(self.results.failures)} failed clip(s)")
        return notes


@dataclass(frozen=True)
class ProtocolGroup:
    """Rows measured under the same protocol: methods best first, then references and calibrations."""

    name: str
    protocol: str
    settings: tuple[tuple[str, str], ...]
    offline_approximation: bool
    rows: tuple[Row, ...]
    reference: str = "real"

    @property
    def controls(self) -> bool:
        """Whether the group was scored against the condition render (a ``controls`` split)."""
        return self.reference == "condition"

    @property
    def description(self) -> str:
        """The settings as one line (``setting: value; ...``)."""
        return "; ".join(f"{k}: {v}" for k, v in self.settings)


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
    clip = None if p.clip is None else (p.clip.model, p.clip.pretrained, p.clip.context_length, p.clip.activation)
    motion = None
    if p.motion is not None:
        m = p.motion
        config = json.dumps(m.tracker_config, sort_keys=True)
        motion = (m.tracker, config, m.grid_size, m.eval_size, m.reference, m.drop_lost, m.foreground)
    clips = hashlib.sha256("\n".join(sorted(results.clips)).encode()).hexdigest()
    people = json.dumps([p.identity, p.pose], sort_keys=True, default=str)
    d = results.dataset
    return (
        p.name, p.reference, clip, motion, people, p.num_frames, p.fps, results.num_clips, clips, d.split,
        d.fingerprint,
    )  # fmt: skip


def _tracker_words(motion) -> str:
    config = motion.tracker_config
    if motion.tracker == "klt":
        return (
            f"KLT, OpenCV pyramidal Lucas-Kanade ({OFFLINE_APPROXIMATION}): window {config.get('window_size')} px, "
            f"{config.get('pyramid_levels')} pyramid levels, lost when the flow fails or its patch error exceeds "
            f"{config.get('max_error')}"
        )
    checkpoint = config.get("checkpoint", "hub default")
    sha = config.get("checkpoint_sha256")
    weights = f"checkpoint {checkpoint}" + (f" (sha256 {sha[:12]})" if sha else "")
    return f"CoTracker {config.get('model')} from {config.get('repo')}, {weights}"


def protocol_settings(results: Results) -> tuple[tuple[str, str], ...]:
    """The protocol as a short table of its settings in words."""
    from ..evaluation.protocols import PROTOCOLS

    p = results.protocol
    spec = PROTOCOLS.get(p.name)
    rows = [("protocol", f"{p.name}: {spec.summary}" if spec else f"{p.name}: settings that match no named protocol")]
    d = results.dataset
    rows.append(
        (
            "clips",
            f"{results.num_clips} {d.split} clips of {d.id} (fingerprint {d.fingerprint}); "
            f"{p.num_frames} frames at {p.fps:g} fps",
        )
    )
    if p.reference == "condition":
        rows.append(
            (
                "reference",
                "the condition render: a controls split has no real video, so motion is tracked in the condition "
                "and pose targets are the render's joints projected into each frame (the 12 limb joints COCO and "
                "SMPL share)",
            )
        )
    if p.motion is not None:
        m = p.motion
        rows.append(("tracker", _tracker_words(m)))
        rows.append(
            (
                "grid",
                f"{m.grid_size} x {m.grid_size} points queried at frame 0, tracked forward, at "
                f"{m.eval_size[0]} x {m.eval_size[1]}; reference: the {m.reference} clip",
            )
        )
        rows.append(
            (
                "lost points",
                "dropped from both videos when lost in the reference"
                if m.drop_lost
                else "kept, scored at their frozen positions (as DMT's script)",
            )
        )
        rows.append(
            (
                "variants",
                ", ".join(m.variants) + ("; foreground columns on the people's frame-0 masks" if m.foreground else ""),
            )
        )
    else:
        rows.append(("motion", "not scored"))
    if p.clip is not None:
        c = p.clip
        rows.append(
            (
                "CLIP",
                f"{c.model} / {c.pretrained}, {c.activation or 'activation unrecorded'}, {c.dtype}, "
                f"captions truncated to {c.context_length} tokens",
            )
        )
    else:
        rows.append(("CLIP", "not scored"))
    if p.identity is not None:
        i = p.identity
        rows.append(
            (
                "identity",
                f"{i.get('model')} embeddings of each person's masked crop (outside pixels set to the "
                f"model's mean colour); a person showing less than {100 * i.get('min_area', 0):g}% of "
                "the frame is skipped there",
            )
        )
    if p.pose is not None:
        q = p.pose
        rows.append(
            (
                "pose",
                f"{q.get('model')} COCO-17 keypoints in the person-mask boxes; targets: keypoints with "
                f"confidence >= {q.get('threshold')} in the real frame; PCK within {q.get('pck_alpha')} "
                "x the box's larger side",
            )
        )
    encoding = p.video_encoding
    if encoding:
        rows.append(
            (
                "videos",
                f"scored as published: stored {encoding.get('codec')} ({encoding.get('pix_fmt')}, "
                f"CRF {encoding.get('crf')}), decoded; references store the dataset's own bytes",
            )
        )
    if p.interval:
        rows.append(
            (
                "interval",
                f"{int(100 * p.interval.get('confidence', 0.95))}% {p.interval.get('method')}; "
                f"{p.interval.get('single_source', '')} with one source; n < {SMALL_N} flagged",
            )
        )
    return tuple(rows)


def describe_reported(reported: ReportedTable) -> str:
    """The paper's protocol in words."""
    p: dict[str, Any] = reported.protocol
    clip, motion = p["clip"], p["motion"]
    config = ", ".join(f"{k} {v}" for k, v in sorted(motion["tracker_config"].items()))
    hf_id = f", {clip['hf_id']}" if clip.get("hf_id") else ""
    return (
        f"CLIP {clip['model']}/{clip['pretrained']}{hf_id}; tracker {motion['tracker']} ({config}), "
        f"{motion['variant']} variant, reference {motion['reference']}; {p['num_frames']} frames at {p['fps']:g} fps; "
        f"{p['num_clips']} {p['split']} clips"
    )


def _competition_ranks(values: dict[str, float], higher_is_better: bool) -> dict[str, int]:
    """Rank labels by value, best first; equal values share a rank ("1224" ranking)."""
    ordered = sorted(values.values(), reverse=higher_is_better)
    return {label: ordered.index(value) + 1 for label, value in values.items()}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:60] or "method"


def _labels(methods: Sequence[str], groups: Sequence[str]) -> list[tuple[str, str]]:
    """Unique display labels and folder slugs for rows given their method and group names.

    A method name used once is its own label; a repeated one gets its group (``amg [P2]``),
    and ``#2``, ``#3``... if it repeats inside a group too. Slugs are numbered (``m03-amg``),
    so two labels that make the same safe name never share a folder.
    """
    names = [m if methods.count(m) == 1 else f"{m} [{g}]" for m, g in zip(methods, groups)]
    seen: dict[str, int] = {}
    out = []
    for index, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        label = name if names.count(name) == 1 else f"{name} #{seen[name]}"
        out.append((label, f"m{index:02d}-{_slug(label)}"))
    return out


def _order_key(row: Row, metrics: Sequence[str], role_order: dict[str, int]) -> tuple:
    """Role first (methods, references, calibrations), then best first in ``metrics`` (missing last), then the label."""
    values = []
    for metric in metrics:
        cell = row.cells.get(metric)
        values.append(float("inf") if cell is None else (-cell.mean if METRICS[metric].higher_is_better else cell.mean))
    return (role_order[row.role], values, row.label)


def build_table(
    results: Sequence[Results], reported: ReportedTable | None = None, rank_by: str = "motion_fidelity_dmt"
) -> Leaderboard:
    """Group results by protocol, rank each metric among the methods of each group, order rows.

    Method rows come first, best first in ``rank_by``, then in the other metrics (in
    :data:`~amg_bench.results.METRICS` order); a row without a metric sorts after those that
    have it. References, then calibrations, follow the methods, ordered the same way. Groups scored against the
    real clip come before ``controls`` groups, groups with CoTracker (or no tracker) before KLT groups, otherwise
    in input order; they are named ``P1``, ``P2``...

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

    order = sorted(
        buckets.values(), key=lambda idx: (results[idx[0]].protocol.reference != "real", is_klt(idx), idx[0])
    )
    group_of = {i: f"P{g}" for g, indices in enumerate(order, start=1) for i in indices}
    labels = _labels([r.method.name for r in results], [group_of[i] for i in range(len(results))])
    sort_metrics = (rank_by, *(m for m in METRICS if m != rank_by))
    role_order = {"method": 0, "reference": 1, "calibration": 2}
    groups = []
    for indices in order:
        name = group_of[indices[0]]
        ranked = [i for i in indices if results[i].method.role == "method"]
        ranks = {}
        for metric, spec in METRICS.items():
            means = {labels[i][0]: results[i].metrics[metric].mean for i in ranked if metric in results[i].metrics}
            ranks[metric] = _competition_ranks(means, spec.higher_is_better)
        rows = []
        for i in indices:
            label, slug = labels[i]
            cells = {
                metric: Cell(s.mean, *(s.ci95 or (None, None)), s.n, s.n_sources, ranks[metric].get(label))
                for metric, s in results[i].metrics.items()
            }
            rows.append(Row(label, slug, results[i], name, cells))
        rows.sort(key=lambda row: _order_key(row, sort_metrics, role_order))
        first = results[indices[0]]
        groups.append(
            ProtocolGroup(
                name,
                first.protocol.name,
                protocol_settings(first),
                is_klt(indices),
                tuple(rows),
                first.protocol.reference,
            )
        )
    present = tuple(m for m in METRICS if any(m in r.metrics for r in results))
    return Leaderboard(tuple(groups), present, rank_by, reported)
