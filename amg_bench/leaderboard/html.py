"""Render the static leaderboard page (``index.html``) from a Jinja2 template.

Python prepares every cell (display text, numeric sort key, tooltip); the template only lays
them out, and a few lines of plain JavaScript in it sort a table when a header is clicked.
Autoescaping is on: method names and paths come from user files.
"""

from __future__ import annotations

from typing import Any

from .gallery import Gallery
from .reported import REPORTED_LABEL
from .table import METRIC_TITLES, Leaderboard, ProtocolGroup, describe_reported

TEMPLATE = "leaderboard.html.j2"


def _cell(text: Any, sort: Any = None, title: str = "", css: str = "") -> dict[str, Any]:
    return {"text": str(text), "sort": "" if sort is None else sort, "title": title, "css": css}


def _group_context(group: ProtocolGroup, board: Leaderboard) -> dict[str, Any]:
    headers = [("Rank", "number"), ("Method", "text")]
    headers += [(f"{METRIC_TITLES[m]} ↑", "number") for m in board.metrics]
    headers += [("Clips", "number"), ("Failures", "number"), ("Protocol", "text")]
    rows = []
    for row in group.rows:
        r = row.results
        rank = row.rank_in(board.rank_by)
        cells = [_cell("—" if rank is None else rank, rank), _cell(row.label, row.label, str(r.path))]
        for metric in board.metrics:
            c = row.cells.get(metric)
            if c is None:
                cells.append(_cell("—"))
            else:
                tip = f"mean {c.mean:.4f}, 95% CI [{c.low:.4f}, {c.high:.4f}], n={c.n}, rank {c.rank} in {group.name}"
                cells.append(_cell(c.display(r.num_clips), repr(c.mean), tip, "metric"))
        failures = len(r.failures)
        cells += [_cell(r.num_clips, r.num_clips), _cell(failures, failures), _cell(group.name, group.name)]
        rows.append(cells)
    return {
        "name": group.name,
        "description": group.description,
        "offline": group.offline_approximation,
        "headers": [{"title": t, "type": k} for t, k in headers],
        "rows": rows,
    }


def _reported_context(board: Leaderboard) -> dict[str, Any] | None:
    reported = board.reported
    if reported is None:
        return None
    metrics = [m for m in METRIC_TITLES if any(m in row.values for row in reported.rows)]
    headers = [{"title": "Method", "type": "text"}]
    headers += [{"title": METRIC_TITLES[m], "type": "number"} for m in metrics]
    headers += [{"title": "Clips", "type": "number"}, {"title": "Source", "type": "text"}]
    num_clips = reported.protocol["num_clips"]
    rows = []
    for row in reported.rows:
        cells = [_cell(row.method, row.method)]
        for m in metrics:
            value = row.values.get(m)
            if value is None:
                cells.append(_cell("—"))
            else:
                cells.append(_cell(f"{value:.2f}", repr(value), "reported in the paper", "metric reported"))
        cells += [_cell(num_clips, num_clips), _cell(REPORTED_LABEL, REPORTED_LABEL)]
        rows.append(cells)
    citation = reported.citation
    return {
        "citation": reported.citation_text,
        "url": citation.get("url", ""),
        "note": reported.note,
        "protocol": describe_reported(reported),
        "headers": headers,
        "rows": rows,
    }


def render_html(board: Leaderboard, gallery: Gallery, chart: str, downloads: dict[str, str]) -> str:
    """The page as a string; ``chart`` and ``downloads`` (title -> path) are relative links."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("amg_bench.leaderboard", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(TEMPLATE).render(
        rank_by=METRIC_TITLES[board.rank_by],
        groups=[_group_context(g, board) for g in board.groups],
        reported=_reported_context(board),
        gallery=gallery,
        chart=chart,
        downloads=downloads,
    )
