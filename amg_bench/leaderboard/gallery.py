"""Collect the gallery's videos into the output folder: per clip, real | avatar | each row's method.

The page must be publishable as a static folder, so every video is copied to
``videos/<column>/<clip_id>.mp4`` and linked relatively. Real and avatar clips come from the
dataset when one is named (its ``video`` / ``avatar_video`` columns, embedded bytes only);
otherwise from the results of the reference methods ``ground-truth`` and ``avatar``, which are
then not repeated as method columns. A ``controls`` split has no real clip, so its gallery has
no real column. A row's videos are read only from inside its results folder. A clip a method
failed shows the failure in its cell instead of a video, so one failed clip never stops the page.
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
    overlays: dict[str, str] = field(default_factory=dict)

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


def _dataset_videos(dataset: str, split: str, clips: Sequence[str]) -> tuple[dict[str, dict[str, bytes]], dict]:
    """``({"real"|"avatar": {clip_id: mp4 bytes}}, {clip_id: row})`` read from the dataset without decoding."""
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
    selected = {}
    for row in rows.select([index[c] for c in clips]):
        selected[row["clip_id"]] = row
        for kind, column in DATASET_COLUMNS.items():
            if kind == REAL and row[column] is None and row.get("control"):
                continue  # a controls row: no real clip
            where = f"dataset {dataset!r} clip {row['clip_id']!r} column {column!r}"
            data = video_cell_bytes(row[column], where)
            if not _readable(data):
                raise VideoError(f"{where} is not a readable video")
            out[kind][row["clip_id"]] = data
    return out, selected


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
    cells: list[tuple[GalleryColumn, str, bytes, Row | None]] = []  # what overlays are drawn on

    def add(
        title: str, slug: str, source: str, videos: dict[str, bytes], notes: dict[str, str], row: Row | None = None
    ) -> None:
        column = GalleryColumn(title, slug, source, notes)
        columns.append(column)
        for clip_id, data in videos.items():
            write_bytes(out_dir / "videos" / slug / f"{clip_id}.mp4", data)
            cells.append((column, clip_id, data, row))

    dataset_rows: dict = {}
    if dataset is not None:
        by_kind, dataset_rows = _dataset_videos(dataset, split, clips) if clips else ({REAL: {}, AVATAR: {}}, {})
        for kind in (REAL, AVATAR):
            if by_kind[kind] or not clips:
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
        add(row.label, row.slug, str(row.results.path), *_row_videos(row, clips), row=row)
    _add_overlays(cells, rows, dataset_rows, out_dir)
    return Gallery(tuple(columns), tuple(clips), missing)


def _add_overlays(cells, rows, dataset_rows: dict, out_dir: Path) -> None:
    """Write an overlay for every gallery cell that has masks (dataset rows) or stored keypoints to draw."""
    from .overlays import load_people, write_overlay

    masks = _dataset_masks(dataset_rows)
    posed = [r for r in rows if r.results.protocol.pose is not None]
    for column, clip_id, data, row in cells:
        people, which = None, "xy"
        if row is not None and row.results.protocol.pose is not None:
            people = load_people(row.results.path, clip_id)
        elif column.slug == REAL:  # the real clip: the real frames' keypoints, from any run that has them
            people = next((p for p in (load_people(r.results.path, clip_id) for r in posed) if p is not None), None)
            which = "real_xy"
        clip_masks = masks.get(clip_id) if column.slug != AVATAR else None
        if people is None and clip_masks is None:
            continue
        fps = float(dataset_rows[clip_id]["fps"]) if clip_id in dataset_rows else 8.0
        threshold = next((r.results.protocol.pose.get("threshold", 0.3) for r in posed), 0.3)
        column.overlays[clip_id] = write_overlay(
            out_dir, column.slug, clip_id, data, fps, clip_masks, people, which, threshold
        )


def _dataset_masks(dataset_rows: dict) -> dict:
    """Person masks of the gallery's dataset rows at their stored size (mannequin rows; others need their model)."""
    if not dataset_rows:
        return {}
    from ..data.body_model import load_body_model
    from ..data.person_regions import PersonRegionSource

    source = None
    out = {}
    for clip_id, row in dataset_rows.items():
        if row.get("smpl") is None or row.get("camera") is None or row.get("body_model", "mannequin") != "mannequin":
            continue
        source = source or PersonRegionSource(load_body_model("mannequin"))
        camera = row["camera"]
        out[clip_id] = source.regions(row, int(camera["height"]), int(camera["width"])).masks
    return out
