"""Leaderboard: results files in; Markdown, CSV, PNG chart and a static HTML page out.

It reads only ``results.json`` files (and the videos they point to), plus the paper's
``reported.json``. Pure table logic lives in :mod:`.table`; each output format has its own
module. The output folder is self-contained (videos copied, relative links) and is built
under a temporary name, then renamed, so a failed build never leaves a half-written page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..files import atomic_directory, write_text
from ..results import METRICS, Results
from .gallery import Gallery, collect_gallery, gallery_clips
from .html import render_html
from .markdown_csv import render_csv, render_markdown
from .plot import render_plot
from .reported import DEFAULT_REPORTED, ReportedTable, load_reported
from .table import Leaderboard, ProtocolGroup, Row, build_table, protocol_key

MARKDOWN, CSV, CHART, PAGE = "leaderboard.md", "leaderboard.csv", "leaderboard.png", "index.html"

__all__ = [
    "DEFAULT_REPORTED",
    "METRICS",
    "Gallery",
    "Leaderboard",
    "ProtocolGroup",
    "ReportedTable",
    "Results",
    "Row",
    "build_leaderboard",
    "build_table",
    "collect_gallery",
    "gallery_clips",
    "load_reported",
    "protocol_key",
]


def build_leaderboard(
    results: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    dataset: str | None = None,
    split: str = "test",
    max_clips: int = 8,
    reported: str | os.PathLike | None = DEFAULT_REPORTED,
    rank_by: str = "motion_fidelity_dmt",
    overwrite: bool = False,
) -> Path:
    """Build the leaderboard folder ``out`` from results files and return its path.

    Writes ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.png``, ``index.html`` and
    ``videos/<column>/<clip_id>.mp4`` for up to ``max_clips`` clips common to all results.

    Args:
        results: ``results.json`` files (or run folders holding one), one leaderboard row each.
        out: output folder; replaced only when ``overwrite`` is true.
        dataset: folder or Hub id whose ``split`` supplies the gallery's real and avatar videos;
            without it they come from the ``ground-truth`` / ``avatar`` results, if given.
        max_clips: gallery size cap (0: no gallery).
        reported: the paper's table (``None``: leave the reported block out).
        rank_by: metric that orders rows inside each protocol group.

    Raises:
        ResultsError: a results or reported file is missing or malformed (file and field named).
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
        VideoError: a listed video is missing or unreadable.
        DatasetError: the dataset cannot be loaded or lacks a gallery clip.
    """
    loaded: list[Results] = [Results.load(path) for path in results]
    table = load_reported(reported) if reported is not None else None
    board = build_table(loaded, table, rank_by=rank_by)
    out = Path(out)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_text(tmp / MARKDOWN, render_markdown(board))
        write_text(tmp / CSV, render_csv(board))
        render_plot(board, tmp / CHART)
        gallery = collect_gallery(board, tmp, dataset=dataset, split=split, max_clips=max_clips)
        downloads = {"Markdown": MARKDOWN, "CSV": CSV, "chart (PNG)": CHART}
        write_text(tmp / PAGE, render_html(board, gallery, CHART, downloads))
    return out
