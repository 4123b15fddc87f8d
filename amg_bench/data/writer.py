"""The only module that writes a dataset's data to disk: one schema, parquet shards, atomic renames.

Rows arrive one at a time (the builder streams them) and are written in small row groups, so
memory stays flat however many clips a build makes. A split's shards are written under
temporary names and renamed to ``data/<split>-<i>-of-<n>.parquet`` only when the split is
complete; the whole folder is itself built under a temporary name by the caller
(:func:`amg_bench.files.atomic_directory`). :func:`place_shards` gathers the shards that several
writers made (one per build unit, possibly in other processes) under the final names.

Shards use ``datasets``' own Arrow schema (``Features.arrow_schema``, which carries the feature
metadata), so ``load_dataset(folder)`` decodes ``Video`` columns without any loading script, and
the parquet settings ``datasets`` (5.2) itself writes media datasets with: content-defined
chunking and a page index on every column, media leaves stored PLAIN and uncompressed (mp4 bytes
do not compress, and unchanged clips then give unchanged pages, which the Hub's storage
deduplicates on re-upload), the other leaves dictionary-encoded and snappy-compressed. The
rule is restated here (:func:`parquet_options`) because ``datasets`` only exposes it from 5.2
on; a test checks it against the library's own function.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import sha256_file

DATA_DIR = "data"
#: The build record beside the card: options, shard sha256, fingerprint.
BUILD_INFO = "amg_bench_build.json"
VIDEO_COLUMNS = ("video", "avatar_video", "pose_video")
# datasets.config.DEFAULT_CDC_OPTIONS (datasets >= 4.1); used when the installed datasets lacks it.
CDC_OPTIONS = {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}


def dataset_features(with_pose_video: bool = False, with_controls: bool = False):
    """The dataset's ``datasets.Features``; column names are stable once published.

    ``appearance_colors`` holds, per person, the RGB colour of each of the 24 body parts the
    avatar was rendered with. With ``with_controls`` the rows also name their control variant
    (``control``, e.g. ``orbit:180``) and the clip it re-renders (``control_of``): both empty
    outside the ``controls`` split, whose rows have no ``video``.
    """
    from datasets import Features, List, Value, Video

    matrix = List(List(Value("float32")))
    columns: dict[str, Any] = {
        "clip_id": Value("string"),
        "source_id": Value("string"),
        "start_frame": Value("int32"),
        "fps": Value("float32"),
        "num_frames": Value("int32"),
        "video": Video(),
        "avatar_video": Video(),
    }
    if with_pose_video:
        columns["pose_video"] = Video()
    columns.update(
        {
            "scene_caption": Value("string"),
            "appearance_captions": List(Value("string")),
            "num_people": Value("int32"),
            "person_ids": List(Value("string")),
            "body_model": Value("string"),
            "smpl": List(
                {
                    "global_orient": matrix,
                    "body_pose": matrix,
                    "betas": List(Value("float32")),
                    "transl": matrix,
                }
            ),
            "camera": {
                "intrinsics": matrix,
                "extrinsics": List(matrix),
                "height": Value("int32"),
                "width": Value("int32"),
            },
            "appearance_colors": List(List(List(Value("uint8")))),
        }
    )
    if with_controls:
        columns.update({"control": Value("string"), "control_of": Value("string")})
    return Features(columns)


def _leaf_paths(path: str, arrow_type) -> list[str]:
    """Parquet leaf column paths of one Arrow field (``col.list.element.field``)."""
    import pyarrow as pa

    if isinstance(arrow_type, pa.ExtensionType):
        arrow_type = arrow_type.storage_type
    if pa.types.is_struct(arrow_type):
        return [leaf for child in arrow_type for leaf in _leaf_paths(f"{path}.{child.name}", child.type)]
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return _leaf_paths(f"{path}.list.element", arrow_type.value_type)
    return [path]


def parquet_options(features) -> dict[str, Any]:
    """Keyword arguments of ``pyarrow.parquet.ParquetWriter`` for ``features``, as ``datasets`` writes media.

    Leaves of columns holding embedded media (``Video`` / ``Image`` / ``Audio``: features with
    ``embed_storage``) get no compression and PLAIN encoding; every other leaf gets snappy and a
    dictionary. Content-defined chunking and the page index are on.
    """
    from datasets import Video, config
    from datasets.features.features import require_storage_embed

    compression: dict[str, str] = {}
    use_dictionary: list[str] = []
    column_encoding: dict[str, str] = {}
    for column in features.arrow_schema:
        feature = features[column.name]
        embed = require_storage_embed(feature) or isinstance(feature, Video)  # datasets 4.0's Video lacks embed_storage
        for leaf in _leaf_paths(column.name, column.type):
            compression[leaf] = "none" if embed else "snappy"
            if embed:
                column_encoding[leaf] = "PLAIN"
            else:
                use_dictionary.append(leaf)
    return {
        "compression": compression,
        "use_dictionary": use_dictionary,
        "column_encoding": column_encoding,
        "use_content_defined_chunking": dict(getattr(config, "DEFAULT_CDC_OPTIONS", CDC_OPTIONS)),
        "write_page_index": True,
    }


@dataclass
class SplitStats:
    """What a finished split holds: row count, Arrow bytes, shard files and their sha256."""

    name: str
    num_examples: int = 0
    num_bytes: int = 0
    files: list[str] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # rows per shard file
    nbytes: dict[str, int] = field(default_factory=dict)  # Arrow bytes per shard file

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "num_examples": self.num_examples,
            "num_bytes": self.num_bytes,
            "files": list(self.files),
            "sha256": dict(self.sha256),
            "rows": dict(self.rows),
            "nbytes": dict(self.nbytes),
        }

    @classmethod
    def from_json(cls, data: dict) -> SplitStats:
        return cls(**data)


def video_cell(data: bytes, clip_id: str) -> dict[str, Any]:
    """A ``Video`` cell: the mp4 bytes, named ``<clip_id>.mp4`` (the Hub's viewer names assets by it)."""
    return {"bytes": data, "path": f"{clip_id}.mp4"}


class SplitWriter:
    """Stream rows of one split into size-bounded parquet shards.

    Args:
        folder: dataset folder (shards go to ``folder/data``).
        split: split name.
        features: the dataset's ``datasets.Features``.
        max_shard_bytes: start a new shard once a shard file passes this size.
        rows_per_group: rows buffered per parquet row group (keeps memory flat).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        split: str,
        features,
        max_shard_bytes: int = 256 << 20,
        rows_per_group: int = 16,
    ) -> None:
        self.folder = Path(folder) / DATA_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.split = split
        self.features = features
        self.schema = features.arrow_schema
        self.options = parquet_options(features)
        self.video_columns = [name for name in features if name in VIDEO_COLUMNS]
        self.max_shard_bytes = max_shard_bytes
        self.rows_per_group = rows_per_group
        self.stats = SplitStats(split)
        self._pending: list[dict] = []
        self._shards: list[Path] = []
        self._shard_rows: list[int] = []
        self._shard_bytes: list[int] = []
        self._writer = None
        self._keys: set[str] = set()

    def write(self, row: dict) -> None:
        """Encode and buffer one row; rows are keyed by their unique ``clip_id``.

        Video cells are stored as given (``{"bytes", "path"}``): ``datasets``' own encoder
        would drop the bytes of a cell whose ``path`` happens to name a file in the working
        directory. ``None`` leaves a video cell empty (the ``controls`` split has no real clip).

        Raises:
            ValueError: a duplicate ``clip_id``, or a video cell without bytes.
        """
        key = row["clip_id"]
        if key in self._keys:
            raise ValueError(f"duplicate clip_id {key!r} in split {self.split}")
        self._keys.add(key)
        cells = {}
        for name in self.video_columns:
            cell = row[name]
            if cell is None:
                cells[name] = None
                continue
            if not isinstance(cell, dict) or not cell.get("bytes"):
                raise ValueError(
                    f"row {key!r}: video column {name!r} must be None or a {{'bytes', 'path'}} cell with bytes"
                )
            cells[name] = {"bytes": cell["bytes"], "path": cell.get("path")}
        encoded = self.features.encode_example({k: v for k, v in row.items() if k not in cells})
        self._pending.append({**encoded, **cells})
        if len(self._pending) >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        table = pa.Table.from_pylist(
            [{name: row[name] for name in self.features} for row in self._pending], self.schema
        )
        self._pending = []
        if self._writer is None:
            path = self.folder / f".{self.split}-{len(self._shards):05d}.parquet.tmp"
            self._shards.append(path)
            self._shard_rows.append(0)
            self._shard_bytes.append(0)
            self._writer = pq.ParquetWriter(path, self.schema, **self.options)
            self._writer.add_key_value_metadata(
                {"content_defined_chunking": json.dumps(self.options["use_content_defined_chunking"])}
            )
        self._writer.write_table(table, row_group_size=len(table))
        self._shard_rows[-1] += len(table)
        self._shard_bytes[-1] += table.nbytes
        if self._shards[-1].stat().st_size >= self.max_shard_bytes:
            self._writer.close()
            self._writer = None

    def close(self) -> SplitStats:
        """Flush, close, and rename the shards to their final ``-of-`` names."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        total = len(self._shards)
        for index, tmp in enumerate(self._shards):
            name = f"{DATA_DIR}/{self.split}-{index:05d}-of-{total:05d}.parquet"
            final = self.folder.parent / name
            os.replace(tmp, final)
            self.stats.files.append(name)
            self.stats.sha256[name] = sha256_file(final)
            self.stats.rows[name] = self._shard_rows[index]
            self.stats.nbytes[name] = self._shard_bytes[index]
        self.stats.num_examples = sum(self._shard_rows)
        self.stats.num_bytes = sum(self._shard_bytes)
        return self.stats


def place_shards(folder: str | os.PathLike, pieces: list[tuple[Path, SplitStats]], mode: str = "move") -> SplitStats:
    """Gather shards that several writers made into ``folder/data`` under one split's final names.

    ``pieces`` lists, in row order, each writer's folder and the stats it returned (all of the
    same split). Their shards go, in that order, to ``data/<split>-<i>-of-<n>.parquet`` by
    ``mode``: ``"move"`` (rename, same file system), ``"link"`` (a hard link, falling back to a
    copy across file systems) or ``"copy"``. Each file's sha256 is checked against its stats first.

    Raises:
        ValueError: pieces of different splits, an unknown mode, or a shard whose bytes are not
            those recorded.
    """
    import shutil

    if mode not in ("move", "link", "copy"):
        raise ValueError(f"mode must be move, link or copy, got {mode!r}")
    folder = Path(folder)
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    names = {stats.name for _, stats in pieces}
    if len(names) != 1:
        raise ValueError(f"place_shards needs pieces of exactly one split, got {sorted(names)}")
    split = names.pop()
    files = [(source_folder / name, stats, name) for source_folder, stats in pieces for name in stats.files]
    merged = SplitStats(split)
    for index, (path, stats, name) in enumerate(files):
        digest = sha256_file(path)
        if digest != stats.sha256[name]:
            raise ValueError(f"shard {path} has sha256 {digest}, but {stats.sha256[name]} was recorded for it")
        final_name = f"{DATA_DIR}/{split}-{index:05d}-of-{len(files):05d}.parquet"
        target = folder / final_name
        if mode == "move":
            os.replace(path, target)
        elif mode == "link":
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
        else:
            shutil.copyfile(path, target)
        merged.files.append(final_name)
        merged.sha256[final_name] = digest
        merged.rows[final_name] = stats.rows[name]
        merged.nbytes[final_name] = stats.nbytes[name]
    merged.num_examples = sum(merged.rows.values())
    merged.num_bytes = sum(merged.nbytes.values())
    return merged
