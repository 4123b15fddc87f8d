"""Named evaluation protocols: one switch for a whole set of scoring settings and the clips scored.

- ``full`` (the default): every test clip, both motion-fidelity variants and the foreground
  column, the current CoTracker (``cotracker3_offline``), points lost in the reference dropped.
- ``paper``: the AMG paper's comparison as DMT's metric script computes it: CoTracker v1
  ``cotracker_w8`` from ``facebookresearch/co-tracker:v1.0``, grid 55, the ``dmt`` variant only,
  lost points kept (the script ignores visibility), 5 test clips chosen by :func:`paper_clips`.
- ``offline``: ``full`` with the weight-free KLT tracker instead of CoTracker; an approximation,
  never comparable with the CoTracker protocols (the demo and the tests use it).

A run records the protocol's name when its settings and clip selection are exactly the named
protocol's, and ``custom`` otherwise (a changed tracker option, grid, variant list, ``--limit``...),
so a name on the leaderboard always means the same settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import MetricError
from ..plugins import suggest
from .scoring import ScoringSettings

PAPER_CLIPS = 5


@dataclass(frozen=True)
class ProtocolSpec:
    """The settings a protocol fixes, in words for the leaderboard, and how it selects clips."""

    name: str
    summary: str
    scoring: dict[str, Any]
    clips: str  # "all" | "paper"
    notes: tuple[str, ...] = field(default_factory=tuple)


PROTOCOLS: dict[str, ProtocolSpec] = {
    "full": ProtocolSpec(
        "full",
        "every test clip; CoTracker 3 (offline model); chamfer and DMT variants plus the foreground column; "
        "points lost in the reference dropped",
        {
            "tracker": "cotracker",
            "tracker_options": {},
            "motion_variants": ("chamfer", "dmt"),
            "grid_size": 55,
            "drop_lost": True,
            "foreground": True,
        },
        "all",
    ),
    "paper": ProtocolSpec(
        "paper",
        "the AMG paper's comparison: CoTracker v1 cotracker_w8, grid 55, DMT variant, lost points kept, "
        f"{PAPER_CLIPS} test clips spread evenly over the split",
        {
            "tracker": "cotracker",
            "tracker_options": {"model": "cotracker_w8"},
            "motion_variants": ("dmt",),
            "grid_size": 55,
            "drop_lost": False,
            "foreground": False,
        },
        "paper",
    ),
    "offline": ProtocolSpec(
        "offline",
        "every test clip; KLT (weight-free approximation of CoTracker, never comparable with it); chamfer and DMT "
        "variants plus the foreground column; points lost in the reference dropped",
        {
            "tracker": "klt",
            "tracker_options": {},
            "motion_variants": ("chamfer", "dmt"),
            "grid_size": 55,
            "drop_lost": True,
            "foreground": True,
        },
        "all",
    ),
}


def get_protocol(name: str) -> ProtocolSpec:
    """The named protocol.

    Raises:
        MetricError: an unknown name, with the closest ones.
    """
    if name not in PROTOCOLS:
        raise MetricError(f"unknown protocol {name!r}{suggest(name, PROTOCOLS)} Protocols: {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def protocol_scoring(name: str, **overrides: Any) -> ScoringSettings:
    """The protocol's :class:`ScoringSettings`, with ``overrides`` (any other settings field) on top.

    ``tracker_options`` given for the protocol's own tracker are merged over the protocol's (so a
    local ``checkpoint`` keeps the protocol's ``model``); for another tracker they replace them.

    Raises:
        MetricError: an unknown protocol or settings field.
    """
    spec = get_protocol(name)
    fields = {f.name for f in dataclasses.fields(ScoringSettings)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise MetricError(f"unknown scoring setting(s) {unknown}; known: {sorted(fields)}")
    settings = {**spec.scoring, **overrides}
    if overrides.get("tracker", spec.scoring["tracker"]) == spec.scoring["tracker"]:
        settings["tracker_options"] = {**spec.scoring["tracker_options"], **overrides.get("tracker_options", {})}
    return ScoringSettings(**settings)


def paper_clips(clip_ids: Sequence[str], count: int = PAPER_CLIPS) -> list[str]:
    """The ``paper`` protocol's clips: ``count`` clips spread evenly over the sorted clip ids.

    Clip ``i`` of ``n`` sorted ids is taken for ``i = round(j (n - 1) / (count - 1))``,
    ``j = 0 .. count - 1`` (the first and the last included); all clips when there are fewer.

    >>> paper_clips([f"c{i:02d}" for i in range(11)])
    ['c00', 'c02', 'c05', 'c08', 'c10']
    """
    ordered = sorted(clip_ids)
    if len(ordered) <= count:
        return ordered
    picks = sorted({round(j * (len(ordered) - 1) / (count - 1)) for j in range(count)})
    return [ordered[i] for i in picks]


def select_protocol_clips(name: str, clip_ids: Sequence[str]) -> list[str]:
    """The clips the protocol ``name`` scores among the split's ``clip_ids``."""
    return paper_clips(clip_ids) if get_protocol(name).clips == "paper" else sorted(clip_ids)


def recorded_name(name: str, settings: ScoringSettings, clips: Sequence[str], split_clips: Sequence[str]) -> str:
    """``name`` when ``settings`` and ``clips`` are exactly the protocol's, else ``"custom"``.

    Compared: tracker and its model, variants, grid, evaluation size, lost-point rule, foreground
    column, and the clips. Not compared: where the tracker's code and weights are read from
    (``repo``, ``checkpoint``: recorded with their sha256 and grouped on by the leaderboard), the
    metric groups run, the CLIP model (a separate part of the results), speed knobs.
    """
    expected = protocol_scoring(name)
    if _identity(settings) != _identity(expected):
        return "custom"
    return name if sorted(clips) == select_protocol_clips(name, split_clips) else "custom"


def _identity(settings: ScoringSettings) -> tuple:
    from ..metrics.trackers.cotracker import DEFAULT_MODEL

    model = settings.tracker_options.get("model", DEFAULT_MODEL) if settings.tracker == "cotracker" else None
    return (
        settings.tracker,
        model,
        tuple(settings.motion_variants),
        settings.grid_size,
        tuple(settings.eval_size),
        settings.drop_lost,
        settings.foreground,
    )
