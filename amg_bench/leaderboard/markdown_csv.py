"""Render a :class:`Leaderboard` as Markdown (for people) and CSV (for tools); pure strings.

Markdown shows one table per protocol group plus the paper's reported block. The CSV is one
tidy table: a ``source`` column (``measured`` / ``reported``) and a ``protocol_group`` column
(``reported`` for the paper's rows) keep the two apart, and reported rows have no rank.
"""

from __future__ import annotations

import csv
import io
import json

from .reported import REPORTED_LABEL
from .table import METRIC_TITLES, Leaderboard, Row, describe_reported

MISSING = "—"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(board: Leaderboard) -> str:
    """The leaderboard as a Markdown document (measured groups, then the reported block)."""
    titles = [f"{METRIC_TITLES[m]} ↑" for m in board.metrics]
    lines = [
        "# amg-bench leaderboard",
        "",
        "Rows are ranked only inside their protocol group: scores measured under different protocols "
        "are not comparable. A cell is the mean over clips ± half the width of the 95% bootstrap "
        "interval (the CSV has both bounds), then the rank in the group; higher is better for every "
        f"metric. Rows are ordered by {METRIC_TITLES[board.rank_by]}.",
    ]
    for group in board.groups:
        note = " (KLT offline approximation)" if group.offline_approximation else ""
        lines += ["", f"## {group.name}{note}", "", f"Protocol {group.name}: {_escape(group.description)}", ""]
        lines.append("| " + " | ".join(["Rank", "Method", *titles, "Clips", "Failures", "Protocol"]) + " |")
        lines.append("|" + "|".join(["---:", "---", *["---:"] * len(titles), "---:", "---:", "---"]) + "|")
        for row in group.rows:
            n = row.results.num_clips
            cells = [row.cells[m].display(n) if m in row.cells else MISSING for m in board.metrics]
            rank = row.rank_in(board.rank_by)
            rank_text = MISSING if rank is None else str(rank)
            failures = str(len(row.results.failures))
            fields = [rank_text, _escape(row.label), *cells, str(n), failures, group.name]
            lines.append("| " + " | ".join(fields) + " |")
    if board.reported is not None:
        lines += _reported_markdown(board)
    return "\n".join(lines) + "\n"


def _reported_markdown(board: Leaderboard) -> list[str]:
    reported = board.reported
    metrics = [m for m in METRIC_TITLES if any(m in row.values for row in reported.rows)]
    num_clips = reported.protocol["num_clips"]
    lines = [
        "",
        "## Reported in the paper (not measured here, not ranked)",
        "",
        f"Source: {_escape(reported.citation_text)} Every number in this block is labelled "
        f'"{REPORTED_LABEL}": copied from the paper, with no confidence interval.',
        "",
        f"Protocol (paper): {_escape(describe_reported(reported))}",
        "",
        "| " + " | ".join(["Method", *(METRIC_TITLES[m] for m in metrics), "Clips", "Source"]) + " |",
        "|" + "|".join(["---", *["---:"] * len(metrics), "---:", "---"]) + "|",
    ]
    for row in reported.rows:
        values = [f"{row.values[m]:.2f}" if m in row.values else MISSING for m in metrics]
        lines.append("| " + " | ".join([_escape(row.method), *values, str(num_clips), REPORTED_LABEL]) + " |")
    return lines


CSV_PROTOCOL_FIELDS = [
    "dataset_id",
    "split",
    "dataset_fingerprint",
    "clip_model",
    "clip_pretrained",
    "tracker",
    "tracker_config",
    "offline_approximation",
    "grid_size",
    "eval_size",
    "reference",
    "num_frames",
    "fps",
]


def csv_header() -> list[str]:
    """Column names of :func:`render_csv`, metric columns for every known metric."""
    metric_fields = [f"{m}_{part}" for m in METRIC_TITLES for part in ("mean", "ci95_low", "ci95_high", "n", "rank")]
    return [
        "source",
        "protocol_group",
        "rank",
        "method",
        "label",
        "results_file",
        *metric_fields,
        "num_clips",
        "num_failures",
        *CSV_PROTOCOL_FIELDS,
        "protocol",
    ]


def _measured_record(row: Row, board: Leaderboard, description: str) -> dict:
    r = row.results
    p = r.protocol
    record = {
        "source": "measured",
        "protocol_group": row.group,
        "rank": row.rank_in(board.rank_by),
        "method": r.method,
        "label": row.label,
        "results_file": str(r.path),
        "num_clips": r.num_clips,
        "num_failures": len(r.failures),
        "dataset_id": r.dataset_id,
        "split": r.split,
        "dataset_fingerprint": r.fingerprint,
        "num_frames": p.num_frames,
        "fps": p.fps,
        "protocol": description,
    }
    if p.clip is not None:
        record.update(clip_model=p.clip.model, clip_pretrained=p.clip.pretrained)
    if p.motion is not None:
        m = p.motion
        record.update(
            tracker=m.tracker,
            tracker_config=json.dumps(m.tracker_config, sort_keys=True),
            offline_approximation=m.tracker == "klt",
            grid_size=m.grid_size,
            eval_size=f"{m.eval_size[0]}x{m.eval_size[1]}",
            reference=m.reference,
        )
    for metric, cell in row.cells.items():
        record.update(
            {
                f"{metric}_mean": cell.mean,
                f"{metric}_ci95_low": cell.low,
                f"{metric}_ci95_high": cell.high,
                f"{metric}_n": cell.n,
                f"{metric}_rank": cell.rank,
            }
        )
    return record


def _reported_records(board: Leaderboard) -> list[dict]:
    reported = board.reported
    p = reported.protocol
    base = {
        "source": REPORTED_LABEL,
        "protocol_group": REPORTED_LABEL,
        "results_file": str(reported.path),
        "num_clips": p["num_clips"],
        "split": p["split"],
        "num_frames": p["num_frames"],
        "fps": p["fps"],
        "clip_model": p["clip"]["model"],
        "clip_pretrained": p["clip"]["pretrained"],
        "tracker": p["motion"]["tracker"],
        "tracker_config": json.dumps(p["motion"]["tracker_config"], sort_keys=True),
        "offline_approximation": False,
        "reference": p["motion"]["reference"],
        "protocol": f"{describe_reported(reported)}; source: {reported.citation_text}",
    }
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
    for group in board.groups:
        for row in group.rows:
            writer.writerow(_measured_record(row, board, group.description))
    if board.reported is not None:
        writer.writerows(_reported_records(board))
    return buffer.getvalue()
