"""The benchmark split as the runner sees it: validated rows, identity (fingerprint / revision), requests.

The split is opened through the one data-access path (:func:`amg_bench.data.hub.load_benchmark`
with videos left encoded, :func:`~amg_bench.data.hub.video_cell_bytes`) and validated once, up
front, so a bad dataset fails before any clip: clip ids that cannot name a file, rows with a
non-positive fps or frame count, a column the card lists but the data lacks (shards that changed
since the build are refused by the load itself). A method gets the video inputs
it lists in ``requires`` and the text inputs always; only reference methods may require ``video``.

A ``controls`` split (every row names its ``control`` variant) has no real video: its clips are
scored against their condition render (:attr:`BenchmarkSplit.reference`), and a method that
needs the real clip or its first frame is refused before any work.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.hub import build_info, load_benchmark, video_cell_bytes
from ..errors import DatasetError, MethodError
from ..methods.base import REQUEST_INPUTS, GenerationRequest
from ..results import is_clip_id
from ..video import probe, read_video

logger = logging.getLogger(__name__)

#: Dataset column behind each request input (from the one table in :mod:`amg_bench.methods.base`).
REQUEST_COLUMNS = {name: spec.column for name, spec in REQUEST_INPUTS.items()}
#: Columns the runner itself reads (ids, sources, timing, the real clip, the caption).
BASE_COLUMNS = ("clip_id", "source_id", "fps", "num_frames", "video", "scene_caption")
#: Columns the person regions (foreground motion, identity, pose) are rendered from.
MOTION_COLUMNS = ("smpl", "camera", "body_model", "person_ids", "num_people")
#: The column that names a ``controls`` row's variant (empty in the other splits).
CONTROL_COLUMN = "control"
#: What motion and pose are scored against: the real clip, or (``controls`` rows) the condition render.
REFERENCE_COLUMNS = {"real": "video", "condition": "avatar_video"}


@dataclass
class BenchmarkSplit:
    """One split of a built dataset, validated, videos left encoded.

    Attributes:
        id: the folder or Hub id as given.
        split: split name.
        fingerprint: the build's content fingerprint (``amg_bench_build.json``), else the
            resolved Hub revision, else ``datasets``' own fingerprint of the split.
        revision: the resolved Hub commit, ``None`` for a local folder or when offline.
        rows: the ``datasets.Dataset``.
        clip_ids: clip ids in dataset order.
        reference: ``"real"``, or ``"condition"`` for a ``controls`` split (no real video: motion
            and pose are scored against the condition render).
    """

    id: str
    split: str
    fingerprint: str
    revision: str | None
    rows: Any
    clip_ids: list[str] = field(default_factory=list)
    reference: str = "real"
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _sources: list[str] = field(default_factory=list, repr=False)

    @property
    def columns(self) -> list[str]:
        return list(self.rows.column_names)

    @property
    def reference_column(self) -> str:
        """The video column motion and pose are scored against (``video``, or ``avatar_video`` for controls)."""
        return REFERENCE_COLUMNS[self.reference]

    def empty_columns(self) -> list[str]:
        """Columns that hold no value in any row (a ``controls`` split's ``video``)."""
        table = self.rows.data
        return [c for c in self.columns if table.column(c).null_count == self.rows.num_rows]

    def row(self, clip_id: str) -> dict[str, Any]:
        """The row of ``clip_id`` (videos as ``{"bytes", "path"}``)."""
        return self.rows[self._index[clip_id]]

    def source_id(self, clip_id: str) -> str:
        return self._sources[self._index[clip_id]]

    def fps(self, clip_id: str) -> float:
        return float(self.rows[self._index[clip_id]]["fps"])

    def video_bytes(self, clip_id: str, column: str) -> bytes:
        """The embedded mp4 bytes of a video column of ``clip_id``."""
        cell = self.rows[self._index[clip_id]][column]
        return video_cell_bytes(cell, f"dataset {self.id!r} clip {clip_id} column {column!r}")


def open_split(
    dataset: str | os.PathLike, split: str = "test", revision: str | None = None, cache_root=None
) -> BenchmarkSplit:
    """Load and validate ``split`` of a built folder or Hub repo, videos left encoded.

    Raises:
        DatasetError: the dataset cannot be loaded, lacks the split, rows or base columns, has
            duplicate or unusable clip ids or rows, or shards that differ from the build's record.
    """
    dataset_id = str(dataset)
    loaded = load_benchmark(dataset_id, revision=revision, decode_videos=False, cache_root=cache_root)
    if split not in loaded:
        raise DatasetError(f"dataset {dataset_id!r} has no split {split!r}; it has {sorted(loaded)}")
    rows = loaded[split]
    where = f"dataset {dataset_id!r} split {split!r}"
    if rows.num_rows == 0:
        raise DatasetError(f"{where} has no rows")
    missing = [c for c in BASE_COLUMNS if c not in rows.column_names]
    if missing:
        raise DatasetError(f"{where} lacks columns {missing}; it has {rows.column_names}")
    wanted = set(BASE_COLUMNS) | set(REQUEST_COLUMNS.values()) | set(MOTION_COLUMNS) | {"appearance_captions"}
    rows = rows.select_columns([c for c in rows.column_names if c in wanted | {CONTROL_COLUMN}])
    reference = "condition" if _is_controls(rows) else "real"
    _check_data_columns(rows, where, skip={"video"} if reference == "condition" else set())
    clip_ids, sources = _check_rows(rows, where)
    info = build_info(dataset_id) if Path(dataset_id).is_dir() else None  # its shards were checked on load
    resolved = _hub_revision(dataset_id, revision)
    recorded = info.get("fingerprint") if info else None
    fingerprint = recorded if isinstance(recorded, str) and recorded else resolved or rows._fingerprint
    index = {clip_id: i for i, clip_id in enumerate(clip_ids)}
    return BenchmarkSplit(dataset_id, split, fingerprint, resolved, rows, clip_ids, reference, index, sources)


def _is_controls(rows) -> bool:
    """A ``controls`` split: every row names a control variant (the other splits leave it empty)."""
    return CONTROL_COLUMN in rows.column_names and rows.data.column(CONTROL_COLUMN).null_count == 0


def _check_data_columns(rows, where: str, skip: set[str]) -> None:
    """Every base column and video column must hold data in every row (not only be listed by the card)."""
    table = rows.data
    for column in rows.column_names:
        if column in skip or (column not in BASE_COLUMNS and column not in REQUEST_COLUMNS.values()):
            continue
        nulls = table.column(column).null_count
        if nulls:
            first = next(i for i, v in enumerate(table.column(column).is_null().to_pylist()) if v)
            what = "every row" if nulls == rows.num_rows else f"{nulls} of {rows.num_rows} rows"
            raise DatasetError(
                f"{where}: column {column!r} is empty in {what} (first: row {first}); the card lists it but the data "
                "files do not hold it: rebuild the dataset or re-download its shards"
            )


def _check_rows(rows, where: str) -> tuple[list[str], list[str]]:
    clip_ids = list(rows["clip_id"])
    sources = list(rows["source_id"])
    seen: set[str] = set()
    for i, clip_id in enumerate(clip_ids):
        if not is_clip_id(clip_id):
            shown = repr(clip_id) if not isinstance(clip_id, str) or len(clip_id) < 60 else repr(clip_id[:60] + "...")
            raise DatasetError(
                f"{where} row {i}: clip_id {shown} cannot name a file (at most 200 characters, "
                "no '/', '\\\\' or NUL, not starting with '.')"
            )
        if clip_id in seen:
            raise DatasetError(f"{where}: duplicate clip_id {clip_id!r}")
        seen.add(clip_id)
    for name, values in (("fps", rows["fps"]), ("num_frames", rows["num_frames"])):
        for i, value in enumerate(values):
            if value is None or not math.isfinite(float(value)) or float(value) <= 0:
                raise DatasetError(f"{where} clip {clip_ids[i]}: {name} must be positive, got {value!r}")
    for i, source in enumerate(sources):
        if not isinstance(source, str) or not source:
            raise DatasetError(f"{where} clip {clip_ids[i]}: source_id must be a non-empty string, got {source!r}")
    return clip_ids, [str(s) for s in sources]


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
    from ..checks import positive_int

    if clips:
        unknown = [c for c in clips if c not in split._index]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), split.clip_ids, n=3)
            hint = f"; close ids: {close}" if close else ""
            raise DatasetError(f"dataset {split.id!r} split {split.split!r} has no clip {unknown}{hint}")
        chosen = list(dict.fromkeys(clips))
        chosen.sort(key=split._index.__getitem__)
    else:
        chosen = list(split.clip_ids)
    if limit is not None:
        chosen = chosen[: positive_int(limit, "limit", DatasetError)]
    if not chosen:
        raise DatasetError(f"dataset {split.id!r} split {split.split!r} has no clip to evaluate")
    return sorted(chosen)


def check_columns(split: BenchmarkSplit, requires: frozenset[str], method_name: str) -> None:
    """Refuse, before any generation, a dataset that lacks a column the method ``requires``.

    Raises:
        MethodError: naming the request input, its column, and the dataset's columns.
    """
    missing = {name: REQUEST_COLUMNS[name] for name in sorted(requires) if REQUEST_COLUMNS[name] not in split.columns}
    if missing:
        needs = ", ".join(f"{name!r} (column {column!r})" for name, column in missing.items())
        raise MethodError(
            f"method {method_name!r} requires {needs}, which dataset {split.id!r} split {split.split!r} lacks; "
            f"its columns are {split.columns}"
        )
    empty = set(split.empty_columns())
    unfilled = {name: REQUEST_COLUMNS[name] for name in sorted(requires) if REQUEST_COLUMNS[name] in empty}
    if unfilled:
        needs = ", ".join(f"{name!r} (column {column!r})" for name, column in unfilled.items())
        why = (
            " (a controls split re-renders test motions under new cameras and has no real video)"
            if split.reference == "condition"
            else ""
        )
        raise MethodError(
            f"method {method_name!r} requires {needs}, which is empty in every row of dataset {split.id!r} split "
            f"{split.split!r}{why}"
        )


def clip_seed(base_seed: int, clip_id: str) -> int:
    """Per-clip seed ``(base_seed + crc32(clip_id)) mod 2**32``: independent of sharding and order."""
    return (int(base_seed) + zlib.crc32(clip_id.encode("utf-8"))) % (1 << 32)


class ClipInputs:
    """One row with its videos decoded on first use (each at most once)."""

    def __init__(self, split: BenchmarkSplit, clip_id: str) -> None:
        self.split = split
        self.clip_id = clip_id
        self.row = split.row(clip_id)
        self._frames: dict[str, np.ndarray] = {}

    def video_bytes(self, column: str = "video") -> bytes:
        """The embedded mp4 bytes of a video column."""
        return video_cell_bytes(
            self.row.get(column), f"dataset {self.split.id!r} clip {self.clip_id} column {column!r}"
        )

    def frames(self, column: str = "video") -> np.ndarray:
        """Decoded uint8 ``(T, H, W, 3)`` frames of a video column."""
        if column not in self._frames:
            self._frames[column] = read_video(self.video_bytes(column))
        return self._frames[column]

    def has_video(self, column: str) -> bool:
        cell = self.row.get(column)
        return isinstance(cell, dict) and bool(cell.get("bytes"))

    def request(self, requires: frozenset[str], seed: int) -> GenerationRequest:
        """The :class:`GenerationRequest` of this clip: text inputs always, video inputs in ``requires``.

        Height and width are the reference clip's (the real clip, or a controls row's condition),
        read from its container without decoding.
        """
        info = probe(self.video_bytes(self.split.reference_column))
        inputs: dict[str, Any] = {}
        encoded: dict[str, bytes] = {}
        for name, spec in REQUEST_INPUTS.items():
            if spec.kind == "text":
                inputs[name] = self.row.get(spec.column) or ""
            elif spec.kind == "texts":
                inputs[name] = list(self.row.get(spec.column) or [])
            elif name in requires and self.has_video(spec.column):
                frames = self.frames(spec.column)
                inputs[name] = frames[0] if spec.kind == "first_frame" else frames
                encoded[name] = self.video_bytes(spec.column)
        return GenerationRequest(
            clip_id=self.clip_id,
            num_frames=int(self.row["num_frames"]),
            fps=float(self.row["fps"]),
            height=info.height,
            width=info.width,
            seed=seed,
            encoded=encoded,
            **inputs,
        )
