"""Training clips from the benchmark dataset: real clip, avatar render and scene caption per row.

Video columns are read as raw mp4 bytes (``Video(decode=False)``) and decoded with
:func:`amg_bench.video.read_video`, so no torchcodec decoder is involved and the bytes can be
hashed for the latent cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .latent_cache import ClipSource

VIDEO_COLUMN = "video"
CONDITION_COLUMN = "avatar_video"
CAPTION_COLUMN = "scene_caption"
ID_COLUMN = "clip_id"


def resolve_dataset(dataset: Any, split: str = "train"):
    """A ``datasets.Dataset`` as given, or ``datasets.load_dataset(path_or_id, split=split)``.

    Raises:
        DatasetError: the folder / Hub id cannot be loaded or has no such split.
    """
    import datasets

    if isinstance(dataset, datasets.Dataset):
        return dataset
    target = str(dataset)
    try:
        return datasets.load_dataset(target, split=split)
    except (FileNotFoundError, ValueError, ConnectionError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise DatasetError(f"cannot load split {split!r} of dataset {target!r}: {exc}") from exc


def _cell_bytes(cell: Any, where: str) -> bytes:
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return cell["bytes"]
        if cell.get("path") and Path(cell["path"]).is_file():
            return Path(cell["path"]).read_bytes()
    raise DatasetError(f"{where} holds no video bytes or readable path")


def iter_clip_sources(dataset) -> Iterator[ClipSource]:
    """One :class:`ClipSource` per row (video bytes, avatar bytes, scene caption).

    Raises:
        DatasetError: a needed column is missing, or a cell holds no video.
    """
    import datasets

    needed = [ID_COLUMN, VIDEO_COLUMN, CONDITION_COLUMN, CAPTION_COLUMN]
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise DatasetError(
            f"training AMG needs dataset columns {needed}; missing {missing} (has {dataset.column_names})"
        )
    rows = dataset.select_columns(needed)
    for column in (VIDEO_COLUMN, CONDITION_COLUMN):
        rows = rows.cast_column(column, datasets.Video(decode=False))
    for row in rows:
        clip_id = str(row[ID_COLUMN])
        caption = row[CAPTION_COLUMN]
        if not isinstance(caption, str):
            raise DatasetError(f"clip {clip_id}: {CAPTION_COLUMN} must be a string, got {type(caption).__name__}")
        yield ClipSource(
            clip_id=clip_id,
            video=_cell_bytes(row[VIDEO_COLUMN], f"clip {clip_id} column {VIDEO_COLUMN}"),
            condition=_cell_bytes(row[CONDITION_COLUMN], f"clip {clip_id} column {CONDITION_COLUMN}"),
            caption=caption,
        )


def dataset_label(dataset: Any) -> str:
    """How a dataset argument is named in logs and configs."""
    return (
        str(dataset) if isinstance(dataset, (str, os.PathLike)) else f"<{type(dataset).__name__} {len(dataset)} rows>"
    )
