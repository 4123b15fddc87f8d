"""Render the static leaderboard page (``index.html``) from a Jinja2 template.

Python prepares every cell (display text, numeric sort key, tooltip); the template only lays
them out, and a few lines of plain JavaScript in it sort a table when a header is clicked.
Autoescaping is on (method names and paths come from user files) and only http(s) links are
rendered as links.
"""

from __future__ import annotations

from typing import Any

from ..results import METRICS
from .gallery import Gallery
from .markdown_csv import MISSING
from .reported import REPORTED_LABEL
from .table import CONTROLS_TITLE, SMALL_N, Leaderboard, ProtocolGroup, describe_reported

TEMPLATE = "leaderboard.html.j2"


def _cell(text: Any, sort: Any = None, title: str = "", css: str = "") -> dict[str, Any]:
    return {"text": str(text), "sort": "" if sort is None else sort, "title": title, "css": css}


def _safe_url(url: str) -> str:
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""


def _group_context(group: ProtocolGroup, board: Leaderboard) -> dict[str, Any]:
    headers = [("Rank", "number"), ("Method", "text")]
    headers += [(f"{METRICS[m].title} {METRICS[m].arrow}", "number") for m in board.metrics]
    headers += [("Points dropped", "number"), ("Clips", "number"), ("Failures", "number"), ("Notes", "text")]
    rows = []
    for row in group.rows:
        r = row.results
        rank = row.rank_in(board.rank_by)
        cells = [_cell(MISSING if rank is None else rank, rank), _cell(row.label, row.label, str(r.path))]
        for metric in board.metrics:
            c = row.cells.get(metric)
            if c is None:
                cells.append(_cell(MISSING))
                continue
            interval = "no interval (one source)" if c.low is None else f"95% interval [{c.low:.4f}, {c.high:.4f}]"
            rank_text = f"rank {c.rank} in {group.name}" if c.rank is not None else f"{row.role}, not ranked"
            tip = f"mean {c.mean:.4f}, {interval}, n={c.n} clips from {c.n_sources} source(s), {rank_text}"
            text = c.display(r.num_clips)
            if metric == "clip_score" and not r.method.uses_prompt:
                text += " (prompt not read)"
            cells.append(_cell(text, repr(c.mean), tip, "metric"))
        failures = len(r.failures)
        small = r.num_clips < SMALL_N
        dropped = r.diagnostics.get("motion_points_dropped")
        cells += [
            _cell(
                row.points_dropped() or MISSING,
                None if dropped is None else dropped.mean,
                "query points lost by the tracker in the reference, per clip (left out of the score)",
                "metric",
            ),
            _cell(
                f"{r.num_clips} (n < {SMALL_N})" if small else r.num_clips, r.num_clips, css="small-n" if small else ""
            ),
            _cell(failures, failures),
            _cell("; ".join(row.notes()) or MISSING),
        ]
        rows.append({"cells": cells, "role": row.role})
    return {
        "name": group.name, "protocol": group.protocol, "settings": group.settings,
        "offline": group.offline_approximation, "headers": [{"title": t, "type": k} for t, k in headers], "rows": rows,
        "controls": CONTROLS_TITLE if group.controls else "",
    }  # fmt: skip


def _reported_context(board: Leaderboard) -> dict[str, Any] | None:
    reported = board.reported
    if reported is None:
        return None
    metrics = [m for m in METRICS if any(m in row.values for row in reported.rows)]
    headers = [{"title": "Method", "type": "text"}]
    headers += [{"title": f"{METRICS[m].title} {METRICS[m].arrow}", "type": "number"} for m in metrics]
    headers += [{"title": "Clips", "type": "number"}, {"title": "Source", "type": "text"}]
    num_clips = reported.protocol["num_clips"]
    rows = []
    for row in reported.rows:
        cells = [_cell(row.method, row.method)]
        for m in metrics:
            value = row.values.get(m)
            if value is None:
                cells.append(_cell(MISSING))
            else:
                cells.append(_cell(f"{value:.2f}", repr(value), "reported in the paper", "metric reported"))
        cells += [_cell(num_clips, num_clips), _cell(REPORTED_LABEL, REPORTED_LABEL)]
        rows.append({"cells": cells, "role": "reported"})
    return {
        "citation": reported.citation_text, "url": _safe_url(reported.citation.get("url", "")),
        "note": reported.note, "protocol": describe_reported(reported), "headers": headers, "rows": rows,
    }  # fmt: skip


def render_html(board: Leaderboard, gallery: Gallery, chart: str, downloads: dict[str, str]) -> str:
    """The page as a string; ``chart`` and ``downloads`` (title -> path) are relative links."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("amg_bench.leaderboard", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )  # fmt: skip
    return env.get_template(TEMPLATE).render(
        rank_by=f"{METRICS[board.rank_by].title}",
        small_n=SMALL_N,
        groups=[_group_context(g, board) for g in board.groups],
        reported=_reported_context(board),
        gallery=gallery,
        chart=chart,
        downloads=downloads,
    )
