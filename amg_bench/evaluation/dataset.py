"""The benchmark split as the runner sees it: clip ids, identity (fingerprint / revision), requests.

Videos stay encoded (``decode_videos=False``) until a clip is processed, and are decoded with
:mod:`amg_bench.video` (PyAV), so every machine decodes them the same way. A method gets the
video inputs it lists in ``requires`` (``condition``, ``reference_frame``, ``pose``, ``video``);
text inputs always. Only reference methods (``ground-truth``) may require ``video``.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, MethodError
from ..methods.base import REQUEST_INPUTS, GenerationRequest
from ..video import probe, to_frames

logger = logging.getLogger(__name__)

#: Dataset column behind each request input (from the one table in :mod:`amg_bench.methods.base`).
REQUEST_COLUMNS = {name: spec.column for name, spec in REQUEST_INPUTS.items()}
#: Columns the runner itself reads (ids, timing, the real clip for motion fidelity, the caption for CLIP).
BASE_COLUMNS = ("clip_id", "fps", "num_frames", "video", "scene_caption")
BUILD_INFO = "amg_bench_build.json"


@dataclass
class BenchmarkSplit:
    """One split of a built dataset, videos left encoded.

    Attributes:
        id: the folder or Hub id as given.
        split: split name.
        fingerprint: the build's content fingerprint (``amg_bench_build.json``), else the
            resolved Hub revision, else ``datasets``' own fingerprint of the split.
        revision: the resolved Hub commit, ``None`` for a local folder or when offline.
        rows: the ``datasets.Dataset``.
        clip_ids: clip ids in dataset order.
    """

    id: str
    split: str
    fingerprint: str
    revision: str | None
    rows: Any
    clip_ids: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def columns(self) -> list[str]:
        return list(self.rows.column_names)

    def row(self, clip_id: str) -> dict[str, Any]:
        """The row of ``clip_id`` (videos as ``{"bytes", "path"}``)."""
        return self.rows[self._index[clip_id]]


def open_split(dataset: str | os.PathLike, split: str = "test", revision: str | None = None) -> BenchmarkSplit:
    """Load ``split`` of a built folder or Hub repo with videos left encoded.

    Raises:
        DatasetError: the dataset cannot be loaded, lacks the split or the base columns, or has
            duplicate or unsafe clip ids.
    """
    from ..data.hub import load_benchmark
    from ..errors import AmgBenchError

    dataset_id = str(dataset)
    try:
        loaded = load_benchmark(dataset_id, revision=revision, decode_videos=False)
    except AmgBenchError as exc:
        raise DatasetError(str(exc)) from exc
    except ConnectionError as exc:  # a Hub id while offline (not a local folder either)
        raise DatasetError(
            f"cannot load dataset {dataset_id!r}: not a local folder, and the Hub is unreachable ({exc})"
        ) from exc
    if split not in loaded:
        raise DatasetError(f"dataset {dataset_id!r} has no split {split!r}; it has {sorted(loaded)}")
    rows = loaded[split]
    missing = [c for c in BASE_COLUMNS if c not in rows.column_names]
    if missing:
        raise DatasetError(
            f"dataset {dataset_id!r} split {split!r} lacks columns {missing}; it has {rows.column_names}"
        )
    wanted = [c for c in rows.column_names if c in BASE_COLUMNS or c in REQUEST_COLUMNS.values()]
    rows = rows.select_columns(wanted)
    clip_ids = list(rows["clip_id"])
    index: dict[str, int] = {}
    for i, clip_id in enumerate(clip_ids):
        if not isinstance(clip_id, str) or not clip_id or "/" in clip_id or clip_id.startswith("."):
            raise DatasetError(f"dataset {dataset_id!r} row {i}: clip_id {clip_id!r} cannot name a file")
        if clip_id in index:
            raise DatasetError(f"dataset {dataset_id!r} split {split!r}: duplicate clip_id {clip_id!r}")
        index[clip_id] = i
    resolved = _hub_revision(dataset_id, revision)
    fingerprint = _build_fingerprint(dataset_id) or resolved or rows._fingerprint
    return BenchmarkSplit(dataset_id, split, fingerprint, resolved, rows, clip_ids, index)


def _build_fingerprint(dataset_id: str) -> str | None:
    path = Path(dataset_id) / BUILD_INFO
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def _hub_revision(dataset_id: str, revision: str | None) -> str | None:
    """The commit a Hub id resolves to (``None`` for a local folder, or when the Hub cannot be asked)."""
    if Path(dataset_id).exists():
        return None
    if revision and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        return HfApi().dataset_info(dataset_id, revision=revision).sha
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError, ValueError) as exc:
        logger.info("cannot resolve the Hub revision of %s (%s); recording the datasets fingerprint", dataset_id, exc)
        return None


def select_clips(split: BenchmarkSplit, clips: Sequence[str] | None = None, limit: int | None = None) -> list[str]:
    """The clip ids to evaluate, sorted by id: ``clips`` if given, else all; then the first ``limit``.

    ``limit`` keeps the first clips in dataset order (before sorting), so ``--limit 5`` means the
    same five clips however the run is sharded.

    Raises:
        DatasetError: an unknown clip id (with close ids), a bad limit, or nothing selected.
    """
    if clips:
        unknown = [c for c in clips if c not in split._index]
        if unknown:
            close = difflib.get_close_matches(unknown[0], split.clip_ids, n=3)
            hint = f"; close ids: {close}" if close else ""
            raise DatasetError(f"dataset {split.id!r} split {split.split!r} has no clip {unknown}{hint}")
        chosen = list(dict.fromkeys(clips))
        chosen.sort(key=split._index.__getitem__)
    else:
        chosen = list(split.clip_ids)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise DatasetError(f"limit must be a positive integer, got {limit!r}")
        chosen = chosen[:limit]
    if not chosen:
        raise DatasetError(f"dataset {split.id!r} split {split.split!r} has no clip to evaluate")
    return sorted(chosen)


def check_columns(split: BenchmarkSplit, requires: frozenset[str], method_name: str) -> None:
    """Refuse, before any generation, a dataset that lacks a column the method ``requires``.

    Raises:
        MethodError: naming the request input, its column, and the dataset's columns.
    """
    missing = {
        name: REQUEST_COLUMNS.get(name) for name in sorted(requires) if REQUEST_COLUMNS.get(name) not in split.columns
    }
    if missing:
        needs = ", ".join(f"{name!r} (column {column!r})" for name, column in missing.items())
        raise MethodError(
            f"method {method_name!r} requires {needs}, which dataset {split.id!r} split {split.split!r} lacks; "
            f"its columns are {split.columns}"
        )


def clip_seed(base_seed: int, clip_id: str) -> int:
    """Per-clip seed ``(base_seed + crc32(clip_id)) mod 2**32``: independent of sharding and order."""
    return (int(base_seed) + zlib.crc32(clip_id.encode("utf-8"))) % (1 << 32)


class ClipInputs:
    """One row with its videos decoded on first use (each at most once)."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.clip_id: str = row["clip_id"]
        self._frames: dict[str, np.ndarray] = {}

    def video_bytes(self, column: str = "video") -> bytes:
        """The mp4 bytes of a video cell (embedded bytes, or the file it points to)."""
        cell = self.row.get(column)
        if isinstance(cell, dict) and cell.get("bytes"):
            return cell["bytes"]
        if isinstance(cell, dict) and cell.get("path") and Path(cell["path"]).is_file():
            return Path(cell["path"]).read_bytes()
        raise DatasetError(f"clip {self.clip_id}: column {column!r} holds no video")

    def frames(self, column: str = "video") -> np.ndarray:
        """Decoded uint8 ``(T, H, W, 3)`` frames of a video column."""
        if column not in self._frames:
            self._frames[column] = to_frames({"bytes": self.video_bytes(column)})
        return self._frames[column]

    def has_video(self, column: str) -> bool:
        cell = self.row.get(column)
        return isinstance(cell, dict) and bool(cell.get("bytes") or cell.get("path"))

    @property
    def caption(self) -> str:
        return self.row.get("scene_caption") or ""

    def request(self, requires: frozenset[str], seed: int) -> GenerationRequest:
        """The :class:`GenerationRequest` of this clip: text inputs always, video inputs in ``requires``.

        Height and width are the real clip's (read from its container, without decoding).
        """
        info = probe(self.video_bytes("video"))
        inputs = {}
        for name, spec in REQUEST_INPUTS.items():
            if spec.kind == "text":
                inputs[name] = self.row.get(spec.column) or ""
            elif spec.kind == "texts":
                inputs[name] = list(self.row.get(spec.column) or [])
            elif name in requires and self.has_video(spec.column):
                frames = self.frames(spec.column)
                inputs[name] = frames[0] if spec.kind == "first_frame" else frames
        return GenerationRequest(
            clip_id=self.clip_id,
            num_frames=int(self.row["num_frames"]),
            fps=float(self.row["fps"]),
            height=info.height,
            width=info.width,
            seed=seed,
            **inputs,
        )
