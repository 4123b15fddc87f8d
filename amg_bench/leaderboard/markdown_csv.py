"""Render a :class:`Leaderboard` as Markdown (for people) and CSV (for tools); pure strings.

Markdown shows one table per protocol group, with the protocol's settings in words, plus the
paper's reported block. The CSV is one tidy table: a ``source`` column (``measured`` /
``reported``) and a ``protocol_group`` column keep the two apart; reported rows have no rank.

Method names, paths and notes come from user files, so Markdown cells are escaped (no raw HTML,
no table breaks) and CSV text cells that a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@``, tab, carriage return first) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import html
import io
import json

from ..results import METRICS
from .reported import REPORTED_LABEL
from .table import CONTROLS_TITLE, SMALL_N, Leaderboard, Row, describe_reported

MISSING = "—"


def escape_markdown(text: str) -> str:
    """Text safe inside a Markdown table cell: HTML escaped, pipes and line breaks neutralised.

    >>> escape_markdown("<b>x</b> | y")
    '&lt;b&gt;x&lt;/b&gt; \\\\| y'
    """
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def csv_safe(value):
    """A CSV cell a spreadsheet shows as text: formula-like strings get a leading apostrophe.

    >>> csv_safe("=HYPERLINK(1)"), csv_safe(-3.5), csv_safe("amg")
    ("'=HYPERLINK(1)", -3.5, 'amg')
    """
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _title(metric: str) -> str:
    spec = METRICS[metric]
    return f"{spec.title} {spec.arrow}"


def _clips(row: Row) -> str:
    n = row.results.num_clips
    return f"{n} (n < {SMALL_N})" if n < SMALL_N else str(n)


def _metric_text(row: Row, metric: str) -> str:
    cell = row.cells.get(metric)
    if cell is None:
        return MISSING
    text = cell.display(row.results.num_clips)
    if metric == "clip_score" and not row.results.method.uses_prompt:
        text += " (prompt not read)"
    return text


def render_markdown(board: Leaderboard) -> str:
    """The leaderboard as a Markdown document (measured groups, then the reported block)."""
    titles = [_title(m) for m in board.metrics]
    lines = [
        "# amg-bench leaderboard",
        "",
        "Rows are ranked only inside their protocol group, and only among methods: references (the real clip, the "
        "avatar render) and calibrations (`frozen`: the first frame held; `shuffled`: another clip's real motion) "
        "are shown beside them, unranked, as the ceiling and the floors. A cell is the mean over clips ± half the "
        "width of its 95% interval over sources (the CSV has both bounds), then the rank; ↑ higher is better, "
        "↓ lower is better. Points dropped: the grid points the tracker lost in the reference clip, per clip on "
        f"average, left out of both videos' scores. Results on fewer than {SMALL_N} clips are flagged. "
        "Methods are ordered by "
        f"{METRICS[board.rank_by].title}.",
    ]
    for group in board.groups:
        note = " (KLT offline approximation)" if group.offline_approximation else ""
        note += f" — {CONTROLS_TITLE}" if group.controls else ""
        lines += ["", f"## {group.name}: protocol `{group.protocol}`{note}", "", "| setting | value |", "|---|---|"]
        lines += [f"| {escape_markdown(k)} | {escape_markdown(v)} |" for k, v in group.settings]
        lines += [""]
        header = ["Rank", "Method", *titles, "Points dropped", "Clips", "Failures", "Notes"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---:", "---", *["---:"] * len(titles), "---:", "---:", "---:", "---"]) + "|")
        for row in group.rows:
            rank = row.rank_in(board.rank_by)
            cells = [escape_markdown(_metric_text(row, m)) for m in board.metrics]
            fields = [
                MISSING if rank is None else str(rank),
                escape_markdown(row.label),
                *cells,
                row.points_dropped() or MISSING,
                _clips(row),
                str(len(row.results.failures)),
                escape_markdown("; ".join(row.notes())) or MISSING,
            ]
            lines.append("| " + " | ".join(fields) + " |")
    if board.reported is not None:
        lines += _reported_markdown(board)
    return "\n".join(lines) + "\n"


def _reported_markdown(board: Leaderboard) -> list[str]:
    reported = board.reported
    metrics = [m for m in METRICS if any(m in row.values for row in reported.rows)]
    num_clips = reported.protocol["num_clips"]
    lines = [
        "",
        "## Reported in the paper (not measured here, not ranked)",
        "",
        f"Source: {escape_markdown(reported.citation_text)} Every number in this block is labelled "
        f'"{REPORTED_LABEL}": copied from the paper, with no confidence interval.',
        "",
        f"Protocol (paper): {escape_markdown(describe_reported(reported))}",
        "",
        "| " + " | ".join(["Method", *(_title(m) for m in metrics), "Clips", "Source"]) + " |",
        "|" + "|".join(["---", *["---:"] * len(metrics), "---:", "---"]) + "|",
    ]
    for row in reported.rows:
        values = [f"{row.values[m]:.2f}" if m in row.values else MISSING for m in metrics]
        lines.append("| " + " | ".join([escape_markdown(row.method), *values, str(num_clips), REPORTED_LABEL]) + " |")
    return lines


CSV_PROTOCOL_FIELDS = [
    "dataset_id", "split", "dataset_fingerprint", "protocol_name", "clip_model", "clip_pretrained", "clip_activation",
    "tracker", "tracker_config", "offline_approximation", "grid_size", "eval_size", "reference", "drop_lost",
    "foreground", "num_frames", "fps",
]  # fmt: skip


def csv_header() -> list[str]:
    """Column names of :func:`render_csv`, metric columns for every known metric."""
    metric_fields = [
        f"{m}_{part}" for m in METRICS for part in ("mean", "ci95_low", "ci95_high", "n", "n_sources", "rank")
    ]
    return ["source", "protocol_group", "rank", "method", "label", "role", "uses_prompt", "reads_real_video",
            "results_file", *metric_fields, "num_clips", "small_n", "num_failures", "points_dropped_mean",
            *CSV_PROTOCOL_FIELDS, "protocol"]  # fmt: skip


def _measured_record(row: Row, board: Leaderboard, description: str) -> dict:
    r = row.results
    p = r.protocol
    dropped = r.diagnostics.get("motion_points_dropped")
    record = {
        "source": "measured", "protocol_group": row.group, "rank": row.rank_in(board.rank_by),
        "method": r.method.name, "label": row.label, "role": r.method.role, "uses_prompt": r.method.uses_prompt,
        "reads_real_video": r.method.reads_real_video, "results_file": str(r.path),
        "num_clips": r.num_clips, "small_n": r.num_clips < SMALL_N, "num_failures": len(r.failures),
        "points_dropped_mean": None if dropped is None else dropped.mean,
        "dataset_id": r.dataset.id, "split": r.dataset.split, "dataset_fingerprint": r.dataset.fingerprint,
        "protocol_name": p.name, "num_frames": p.num_frames, "fps": p.fps, "protocol": description,
    }  # fmt: skip
    if p.clip is not None:
        record.update(clip_model=p.clip.model, clip_pretrained=p.clip.pretrained, clip_activation=p.clip.activation)
    if p.motion is not None:
        m = p.motion
        record.update(
            tracker=m.tracker, tracker_config=json.dumps(m.tracker_config, sort_keys=True),
            offline_approximation=m.tracker == "klt", grid_size=m.grid_size,
            eval_size=f"{m.eval_size[0]}x{m.eval_size[1]}", reference=m.reference, drop_lost=m.drop_lost,
            foreground=m.foreground,
        )  # fmt: skip
    for metric, cell in row.cells.items():
        record.update({
            f"{metric}_mean": cell.mean, f"{metric}_ci95_low": cell.low, f"{metric}_ci95_high": cell.high,
            f"{metric}_n": cell.n, f"{metric}_n_sources": cell.n_sources, f"{metric}_rank": cell.rank,
        })  # fmt: skip
    return record


def _reported_records(board: Leaderboard) -> list[dict]:
    reported = board.reported
    p = reported.protocol
    base = {
        "source": REPORTED_LABEL, "protocol_group": REPORTED_LABEL, "results_file": str(reported.path),
        "num_clips": p["num_clips"], "split": p["split"], "num_frames": p["num_frames"], "fps": p["fps"],
        "clip_model": p["clip"]["model"], "clip_pretrained": p["clip"]["pretrained"],
        "tracker": p["motion"]["tracker"], "tracker_config": json.dumps(p["motion"]["tracker_config"], sort_keys=True),
        "offline_approximation": False, "reference": p["motion"]["reference"],
        "protocol": f"{describe_reported(reported)}; source: {reported.citation_text}",
    }  # fmt: skip
    records = []
    for row in reported.rows:
        record = dict(base, method=row.method, label=row.method)
        record.update({f"{m}_mean": v for m, v in row.values.items()})
        records.append(record)
    return records


def render_csv(board: Leaderboard) -> str:
    """One CSV row per results file, then the reported rows (``source=reported``, no rank)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_header(), lineterminator="\n")
    writer.writeheader()
    records = [_measured_record(row, board, group.description) for group in board.groups for row in group.rows]
    if board.reported is not None:
        records += _reported_records(board)
    for record in records:
        writer.writerow({key: csv_safe(value) for key, value in record.items()})
    return buffer.getvalue()
