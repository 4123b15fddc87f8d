"""The only module that writes a dataset to disk: one schema, parquet shards, atomic renames.

Rows arrive one at a time (the builder streams them) and are written in small row groups, so
memory stays flat however many clips a build makes. A split's shards are written under
temporary names and renamed to ``data/<split>-<i>-of-<n>.parquet`` only when the split is
complete; the whole folder is itself built under a temporary name by the caller
(:func:`amg_bench.files.atomic_directory`).

Shards use ``datasets``' own Arrow schema (``Features.arrow_schema``, which carries the feature
metadata), so ``load_dataset(folder)`` decodes ``Video`` columns without any loading script.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import sha256_file

DATA_DIR = "data"
#: The build record beside the card: options, shard sha256, fingerprint.
BUILD_INFO = "amg_bench_build.json"


def dataset_features(with_pose_video: bool = False):
    """The dataset's ``datasets.Features``; column names are stable once published."""
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
        }
    )
    return Features(columns)


@dataclass
class SplitStats:
    """What a finished split holds: row count, Arrow bytes, shard files and their sha256."""

    name: str
    num_examples: int = 0
    num_bytes: int = 0
    files: list[str] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)


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
        self.max_shard_bytes = max_shard_bytes
        self.rows_per_group = rows_per_group
        self.stats = SplitStats(split)
        self._pending: list[dict] = []
        self._shards: list[Path] = []
        self._writer = None
        self._keys: set[str] = set()

    def write(self, row: dict) -> None:
        """Encode and buffer one row; rows are keyed by their unique ``clip_id``."""
        key = row["clip_id"]
        if key in self._keys:
            raise ValueError(f"duplicate clip_id {key!r} in split {self.split}")
        self._keys.add(key)
        self._pending.append(self.features.encode_example(row))
        if len(self._pending) >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        table = pa.Table.from_pylist(self._pending, schema=self.schema)
        self._pending = []
        if self._writer is None:
            path = self.folder / f".{self.split}-{len(self._shards):05d}.parquet.tmp"
            self._shards.append(path)
            self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._writer.write_table(table, row_group_size=len(table))
        self.stats.num_examples += len(table)
        self.stats.num_bytes += table.nbytes
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
            name = f"{self.split}-{index:05d}-of-{total:05d}.parquet"
            final = self.folder / name
            os.replace(tmp, final)
            self.stats.files.append(f"{DATA_DIR}/{name}")
            self.stats.sha256[f"{DATA_DIR}/{name}"] = sha256_file(final)
        return self.stats


def content_fingerprint(stats: list[SplitStats]) -> str:
    """One hash over every shard's sha256: identical data gives the identical fingerprint."""
    digest = hashlib.sha256()
    for split in sorted(stats, key=lambda s: s.name):
        for name in sorted(split.sha256):
            digest.update(f"{name}:{split.sha256[name]}\n".encode())
    return digest.hexdigest()[:16]
