"""Collect the gallery's videos into the output folder: per clip, real | avatar | each method.

The page must be publishable as a static folder, so every video is copied to
``videos/<column>/<clip_id>.mp4`` and linked relatively. Real and avatar clips come from the
dataset when one is named (its ``video`` / ``avatar_video`` columns, read undecoded as mp4
bytes); otherwise from the results of the reference methods ``ground-truth`` and ``avatar``.
Those reference methods are then not repeated as method columns (same videos).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
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
    """One column of videos: its heading, folder under ``videos/`` and where it came from."""

    title: str
    slug: str
    source: str


@dataclass(frozen=True)
class Gallery:
    """The columns and clips shown; ``missing`` names reference columns that had no source."""

    columns: tuple[GalleryColumn, ...]
    clips: tuple[str, ...]
    missing: tuple[str, ...]

    @staticmethod
    def src(column: GalleryColumn, clip_id: str) -> str:
        """Relative link of a video inside the output folder."""
        return f"videos/{column.slug}/{clip_id}.mp4"


def gallery_clips(clip_lists: Sequence[Sequence[str]], max_clips: int) -> list[str]:
    """Clips present in every list, in the first list's order, at most ``max_clips``.

    >>> gallery_clips([["a", "b", "c"], ["c", "a"]], 8)
    ['a', 'c']
    """
    if not clip_lists or max_clips <= 0:
        return []
    common = set(clip_lists[0]).intersection(*map(set, clip_lists[1:]))
    return [c for c in clip_lists[0] if c in common][:max_clips]


def _checked(data: bytes, what: str) -> bytes:
    """``data`` unchanged if it opens as a video (demuxed, not decoded)."""
    try:
        probe(data)
    except VideoError as exc:
        raise VideoError(f"{what} is not a readable video ({exc})") from exc
    return data


def _read_video_file(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise VideoError(f"{what}: video {path} does not exist")
    return _checked(path.read_bytes(), f"{what}: {path}")


def _dataset_videos(dataset: str, split: str, clips: Sequence[str]) -> dict[str, dict[str, bytes]]:
    """``{"real"|"avatar": {clip_id: mp4 bytes}}`` read from the dataset without decoding."""
    import datasets

    try:
        ds = datasets.load_dataset(dataset, split=split)
    except (OSError, ValueError) as exc:  # missing folder or repo, offline hub, unknown split
        raise DatasetError(f"cannot load dataset {dataset!r} split {split!r} for the gallery: {exc}") from exc
    needed = ["clip_id", *DATASET_COLUMNS.values()]
    absent = [c for c in needed if c not in ds.column_names]
    if absent:
        raise DatasetError(f"dataset {dataset!r} split {split!r} lacks columns {absent} (has {ds.column_names})")
    index = {clip_id: i for i, clip_id in enumerate(ds["clip_id"])}
    unknown = [c for c in clips if c not in index]
    if unknown:
        raise DatasetError(f"dataset {dataset!r} split {split!r} has no clips {unknown}; is it the evaluated dataset?")
    rows = ds.select([index[c] for c in clips])
    for column in DATASET_COLUMNS.values():
        rows = rows.cast_column(column, datasets.Video(decode=False))
    out: dict[str, dict[str, bytes]] = {REAL: {}, AVATAR: {}}
    for row in rows:
        for key, column in DATASET_COLUMNS.items():
            cell, what = row[column], f"dataset {dataset!r} clip {row['clip_id']!r} column {column!r}"
            if cell.get("bytes"):
                out[key][row["clip_id"]] = _checked(cell["bytes"], what)
            elif cell.get("path"):
                out[key][row["clip_id"]] = _read_video_file(Path(cell["path"]), what)
            else:
                raise DatasetError(f"{what} holds neither bytes nor a path")
    return out


def collect_gallery(
    board: Leaderboard,
    out_dir: str | os.PathLike,
    dataset: str | None = None,
    split: str = "test",
    max_clips: int = 8,
) -> Gallery:
    """Copy the gallery's videos under ``out_dir/videos`` and describe its layout.

    Raises:
        VideoError: a video a results file lists is missing or unreadable.
        DatasetError: the dataset cannot be loaded or lacks a gallery clip or video column.
    """
    out_dir = Path(out_dir)
    rows = board.rows
    clips = gallery_clips([row.results.clips for row in rows], max_clips)
    columns: list[GalleryColumn] = []

    def add(column: GalleryColumn, by_clip: dict[str, bytes]) -> None:
        columns.append(column)
        for clip_id in clips:
            write_bytes(out_dir / Gallery.src(column, clip_id), by_clip[clip_id])

    def from_results(row: Row) -> dict[str, bytes]:
        return {c: _read_video_file(row.results.video_path(c), str(row.results.path)) for c in clips}

    if dataset is not None:
        by_kind = _dataset_videos(dataset, split, clips) if clips else {REAL: {}, AVATAR: {}}
        for kind in (REAL, AVATAR):
            add(GalleryColumn(kind, kind, f"dataset {dataset} ({split})"), by_kind[kind])
    else:
        for kind in (REAL, AVATAR):
            row = next((r for r in rows if REFERENCE_METHODS.get(r.method) == kind), None)
            if row is not None:
                add(GalleryColumn(kind, kind, str(row.results.path)), from_results(row))
    missing = tuple(k for k in (REAL, AVATAR) if k not in {c.slug for c in columns})
    for row in rows:
        if row.method not in REFERENCE_METHODS:
            slug = row.slug if row.slug not in (REAL, AVATAR) else f"method-{row.slug}"
            add(GalleryColumn(row.label, slug, str(row.results.path)), from_results(row))
    return Gallery(tuple(columns), tuple(clips), missing)
