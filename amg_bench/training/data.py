"""Training clips from the benchmark dataset: real clip, avatar render and scene caption per row.

Rows come through the one data-access path (:func:`amg_bench.data.hub.load_benchmark`, videos
left encoded, :func:`~amg_bench.data.hub.video_cell_bytes`), so the mp4 bytes can be hashed for
the latent cache and are decoded only on a cache miss.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import DatasetError
from .latent_cache import ClipSource

VIDEO_COLUMN = "video"
CONDITION_COLUMN = "avatar_video"
CAPTION_COLUMN = "scene_caption"
ID_COLUMN = "clip_id"


def resolve_dataset(dataset: Any, split: str = "train"):
    """A ``datasets.Dataset`` as given, or the ``split`` of a folder / Hub id, videos left encoded.

    Raises:
        DatasetError: the folder / Hub id cannot be loaded or has no such split.
    """
    import datasets

    from ..data.hub import load_benchmark

    if isinstance(dataset, datasets.Dataset):
        return dataset
    loaded = load_benchmark(str(dataset), decode_videos=False)
    if split not in loaded:
        raise DatasetError(f"dataset {str(dataset)!r} has no split {split!r}; it has {sorted(loaded)}")
    return loaded[split]


def iter_clip_sources(dataset) -> Iterator[ClipSource]:
    """One :class:`ClipSource` per row (video bytes, avatar bytes, scene caption).

    Raises:
        DatasetError: a needed column is missing, or a cell holds no embedded video.
    """
    import datasets

    from ..data.hub import video_cell_bytes

    needed = [ID_COLUMN, VIDEO_COLUMN, CONDITION_COLUMN, CAPTION_COLUMN]
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise DatasetError(
            f"training AMG needs dataset columns {needed}; missing {missing} (has {dataset.column_names})"
        )
    rows = dataset.select_columns(needed)
    for column in (VIDEO_COLUMN, CONDITION_COLUMN):
        if not (isinstance(rows.features[column], datasets.Video) and not rows.features[column].decode):
            rows = rows.cast_column(column, datasets.Video(decode=False))
    for row in rows:
        clip_id = str(row[ID_COLUMN])
        caption = row[CAPTION_COLUMN]
        if not isinstance(caption, str):
            raise DatasetError(f"clip {clip_id}: {CAPTION_COLUMN} must be a string, got {type(caption).__name__}")
        yield ClipSource(
            clip_id=clip_id,
            video=video_cell_bytes(row[VIDEO_COLUMN], f"clip {clip_id} column {VIDEO_COLUMN}"),
            condition=video_cell_bytes(row[CONDITION_COLUMN], f"clip {clip_id} column {CONDITION_COLUMN}"),
            caption=caption,
        )


def dataset_label(dataset: Any) -> str:
    """How a dataset argument is named in logs and configs."""
    return (
        str(dataset) if isinstance(dataset, (str, os.PathLike)) else f"<{type(dataset).__name__} {len(dataset)} rows>"
    )
