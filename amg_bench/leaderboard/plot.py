"""Bar chart of the measured rows: one panel per metric, bars coloured by protocol group.

Bars are the means, whiskers the 95% intervals over sources (none with one source); reference and
calibration rows are hatched. Groups are separated by a gap and
named in the legend, because bars of different groups are not comparable. The paper's
reported numbers are not drawn (they have no interval and another protocol); they stay in
the tables. Uses a bare ``matplotlib.figure.Figure`` (Agg canvas, no pyplot global state).
"""

from __future__ import annotations

import os

from ..files import atomic_path
from ..results import METRICS
from .table import Leaderboard

_GROUP_GAP = 0.6


def render_plot(board: Leaderboard, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write the chart as a PNG to ``path`` (atomically)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = board.rows
    positions, x = [], 0.0
    for i, row in enumerate(rows):
        if i and row.group != rows[i - 1].group:
            x += _GROUP_GAP
        positions.append(x)
        x += 1.0
    palette = [f"C{i % 10}" for i in range(len(board.groups))]
    colour = {g.name: palette[i] for i, g in enumerate(board.groups)}
    panels = len(board.metrics)
    if not panels:  # every clip of every run failed: nothing to draw, but the page still links a chart
        fig = Figure(figsize=(6.0, 2.0), layout="constrained")
        fig.text(0.5, 0.5, "no scored clip: see the failures in the tables", ha="center", va="center")
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
        return
    fig = Figure(figsize=(max(4.0, 0.7 * len(rows) + 1.5) * panels, 4.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax, metric in zip(axes, board.metrics):
        shown = [(pos, row) for pos, row in zip(positions, rows) if metric in row.cells]
        means = [row.cells[metric].mean for _, row in shown]
        cells = [row.cells[metric] for _, row in shown]
        below = [0.0 if c.low is None else max(c.mean - c.low, 0.0) for c in cells]
        above = [0.0 if c.high is None else max(c.high - c.mean, 0.0) for c in cells]
        ax.bar(
            [pos for pos, _ in shown],
            means,
            width=0.8,
            color=[colour[row.group] for _, row in shown],
            hatch=[None if row.role == "method" else "//" for _, row in shown],
            yerr=[below, above],
            capsize=4,
            ecolor="black",
        )
        ax.set_xticks(positions, [f"{row.label}\n({row.group})" for row in rows], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{METRICS[metric].title} {METRICS[metric].arrow}")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    handles = [
        Patch(color=colour[g.name], label=f"{g.name}{' (KLT approximation)' if g.offline_approximation else ''}")
        for g in board.groups
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8)
    fig.suptitle(
        "amg-bench: mean with 95% interval over sources; hatched: references and calibrations; compare within a group",
        fontsize=9,
    )
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
