"""Collect the gallery's videos into the output folder: per clip, real | avatar | each row's method.

The page must be publishable as a static folder, so every video is copied to
``videos/<column>/<clip_id>.mp4`` and linked relatively. Real and avatar clips come from the
dataset when one is named (its ``video`` / ``avatar_video`` columns, embedded bytes only);
otherwise from the results of the reference methods ``ground-truth`` and ``avatar``, which are
then not repeated as method columns. A row's videos are read only from inside its results
folder. A clip a method failed shows the failure in its cell instead of a video, so one failed
clip never stops the page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetError, VideoError
from ..files import write_bytes
from ..video import probe
from .table import Leaderboard, Row

REAL, AVATAR = "real", "avatar"
#: Reference method names whose videos are the real clip and the avatar condition.
REFERENCE_METHODS = {"ground-truth": REAL, "avatar": AVATAR}
DATASET_COLUMNS = {REAL: "video", AVATAR: "avatar_video"}


@dataclass(frozen=True)
class GalleryColumn:
    """One column: its heading, folder under ``videos/``, where it came from, and per clip a note
    (the failure reason) where it has no video."""

    title: str
    slug: str
    source: str
    notes: dict[str, str] = field(default_factory=dict)

    def src(self, clip_id: str) -> str | None:
        """Relative link of a video inside the output folder (``None`` when the cell has a note)."""
        return None if clip_id in self.notes else f"videos/{self.slug}/{clip_id}.mp4"


@dataclass(frozen=True)
class Gallery:
    """The columns and clips shown; ``missing`` names reference columns that had no source."""

    columns: tuple[GalleryColumn, ...]
    clips: tuple[str, ...]
    missing: tuple[str, ...]


def gallery_clips(clip_lists: Sequence[Sequence[str]], max_clips: int) -> list[str]:
    """Clips present in every list, in the first list's order, at most ``max_clips``.

    >>> gallery_clips([["a", "b", "c"], ["c", "a"]], 8)
    ['a', 'c']
    """
    if not clip_lists or max_clips <= 0:
        return []
    common = set(clip_lists[0]).intersection(*map(set, clip_lists[1:]))
    return [c for c in clip_lists[0] if c in common][:max_clips]


def _readable(data: bytes) -> bool:
    try:
        probe(data)
    except VideoError:
        return False
    return True


def _row_videos(row: Row, clips: Sequence[str]) -> tuple[dict[str, bytes], dict[str, str]]:
    """``({clip: mp4 bytes}, {clip: note})`` of a row: its stored videos, or why a clip has none."""
    results = row.results
    folder = results.path.parent.resolve() if results.path is not None else Path(".").resolve()
    failures = {f.clip_id: f.reason for f in results.failures}
    videos, notes = {}, {}
    for clip_id in clips:
        path = results.video_path(clip_id)
        if clip_id in failures:
            notes[clip_id] = f"failed: {failures[clip_id]}"
        elif not path.is_file():
            notes[clip_id] = "no video"
        elif not path.resolve().is_relative_to(folder):
            notes[clip_id] = "video outside the results folder (not copied)"
        else:
            data = path.read_bytes()
            if _readable(data):
                videos[clip_id] = data
            else:
                notes[clip_id] = "unreadable video"
    return videos, notes


def _dataset_videos(dataset: str, split: str, clips: Sequence[str]) -> dict[str, dict[str, bytes]]:
    """``{"real"|"avatar": {clip_id: mp4 bytes}}`` read from the dataset without decoding."""
    from ..data.hub import load_benchmark, video_cell_bytes

    rows = load_benchmark(dataset, split=split, decode_videos=False)
    absent = [c for c in ("clip_id", *DATASET_COLUMNS.values()) if c not in rows.column_names]
    if absent:
        raise DatasetError(f"dataset {dataset!r} split {split!r} lacks columns {absent} (has {rows.column_names})")
    index = {clip_id: i for i, clip_id in enumerate(rows["clip_id"])}
    unknown = [c for c in clips if c not in index]
    if unknown:
        raise DatasetError(f"dataset {dataset!r} split {split!r} has no clips {unknown}; is it the evaluated dataset?")
    out: dict[str, dict[str, bytes]] = {REAL: {}, AVATAR: {}}
    for row in rows.select([index[c] for c in clips]):
        for kind, column in DATASET_COLUMNS.items():
            where = f"dataset {dataset!r} clip {row['clip_id']!r} column {column!r}"
            data = video_cell_bytes(row[column], where)
            if not _readable(data):
                raise VideoError(f"{where} is not a readable video")
            out[kind][row["clip_id"]] = data
    return out


def collect_gallery(
    board: Leaderboard, out_dir: str | os.PathLike, dataset: str | None = None, split: str = "test", max_clips: int = 8
) -> Gallery:
    """Copy the gallery's videos under ``out_dir/videos`` and describe its layout.

    Raises:
        DatasetError, VideoError: the named dataset cannot be loaded, lacks a gallery clip or
            holds an unreadable video.
    """
    out_dir = Path(out_dir)
    rows = board.rows
    clips = gallery_clips([row.results.clips for row in rows], max_clips)
    columns: list[GalleryColumn] = []

    def add(title: str, slug: str, source: str, videos: dict[str, bytes], notes: dict[str, str]) -> None:
        columns.append(GalleryColumn(title, slug, source, notes))
        for clip_id, data in videos.items():
            write_bytes(out_dir / "videos" / slug / f"{clip_id}.mp4", data)

    if dataset is not None:
        by_kind = _dataset_videos(dataset, split, clips) if clips else {REAL: {}, AVATAR: {}}
        for kind in (REAL, AVATAR):
            add(kind, kind, f"dataset {dataset} ({split})", by_kind[kind], {})
    else:
        for kind in (REAL, AVATAR):
            row = next((r for r in rows if REFERENCE_METHODS.get(r.method) == kind), None)
            if row is not None:
                add(kind, kind, str(row.results.path), *_row_videos(row, clips))
    present = {c.slug for c in columns}
    missing = tuple(k for k in (REAL, AVATAR) if k not in present)
    for row in rows:
        if REFERENCE_METHODS.get(row.method) in present:
            continue  # the same videos as the real / avatar column
        add(row.label, row.slug, str(row.results.path), *_row_videos(row, clips))
    return Gallery(tuple(columns), tuple(clips), missing)
