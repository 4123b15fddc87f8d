"""Load a built dataset (local folder or Hub repo), read its video cells, publish a folder to the Hub.

This is the one data-access path: every reader of the dataset (evaluation, training, the
leaderboard gallery, ``info``) goes through :func:`load_benchmark` and :func:`video_cell_bytes`.
Both sides are the libraries' own calls: ``datasets.load_dataset`` reads the card's ``configs``
and ``huggingface_hub`` uploads the folder. What this module adds is validation with one-line
errors, a shard check against the build's recorded sha256, a readable summary (``amg-bench info``)
and an upload plan (``--dry-run``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AmgBenchError, BuildError, DatasetError
from .writer import BUILD_INFO

VIDEO_COLUMNS = ("video", "avatar_video", "pose_video")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _is_local(target: str) -> bool:
    """A target that can only be a path: it exists, or it is written like one (not ``owner/name``)."""
    return Path(target).expanduser().exists() or not _REPO_ID.match(target) or target.startswith((".", "/", "~"))


def load_benchmark(
    path_or_repo_id: str | os.PathLike,
    split: str | None = None,
    revision: str | None = None,
    decode_videos: bool = True,
):
    """``datasets.load_dataset`` on a built folder or a Hub repo id.

    With ``decode_videos=False`` the video columns come back as ``{"bytes", "path"}`` dicts;
    read them with :func:`video_cell_bytes` and :func:`amg_bench.video.read_video`.

    Raises:
        DatasetError: a missing folder, a repo that is offline and not cached, no such split, or
            data files ``datasets`` cannot read (truncated, empty, mixed schemas, a malformed card);
            the message names the dataset and the cause.
    """
    import datasets

    target = str(path_or_repo_id)
    if _is_local(target):
        local = Path(target).expanduser()
        if not local.exists():
            raise DatasetError(f"dataset folder {local} does not exist")
        if not local.is_dir():
            raise DatasetError(f"dataset {local} is a file; give the built dataset's folder")
    try:
        loaded = datasets.load_dataset(target, split=split, revision=revision)
    except AmgBenchError:
        raise
    except Exception as exc:  # datasets and pyarrow raise many kinds for unreadable inputs
        cause = " ".join(str(exc).split()) or type(exc).__name__
        if len(cause) > 400:
            cause = cause[:400] + " ..."
        where = "" if _is_local(target) else " (a Hub id: it must be in the Hugging Face cache when offline)"
        raise DatasetError(f"cannot load dataset {target!r}{where}: {type(exc).__name__}: {cause}") from exc
    if not decode_videos:
        parts = list(loaded.values()) if isinstance(loaded, datasets.DatasetDict) else [loaded]
        for column in (c for c in VIDEO_COLUMNS if c in parts[0].column_names):
            loaded = loaded.cast_column(column, datasets.Video(decode=False))
    return loaded


def video_cell_bytes(cell: Any, where: str) -> bytes:
    """The mp4 bytes embedded in a video cell (``Video(decode=False)``).

    Only embedded bytes are read: a cell whose ``path`` names a file is refused, so a dataset can
    never make a reader open (or the leaderboard publish) a file of this machine.

    Raises:
        DatasetError: the cell holds no embedded bytes, naming ``where``.
    """
    if isinstance(cell, dict) and isinstance(cell.get("bytes"), (bytes, bytearray)) and cell["bytes"]:
        return bytes(cell["bytes"])
    if isinstance(cell, dict) and cell.get("path"):
        raise DatasetError(f"{where} holds no embedded video bytes, only a path ({cell['path']!r}), which is not read")
    raise DatasetError(f"{where} holds no video")


def build_info(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The build's ``amg_bench_build.json`` of a local dataset folder, ``None`` when there is none.

    Raises:
        DatasetError: the file exists but is not a JSON object.
    """
    path = Path(folder) / BUILD_INFO
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


@dataclass
class DatasetSummary:
    """What ``amg-bench info`` prints."""

    location: str
    splits: dict[str, int]
    columns: list[str]
    card: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)


def dataset_info(path_or_repo_id: str | os.PathLike, revision: str | None = None) -> DatasetSummary:
    """Splits, counts, columns and the card summary of a built folder or Hub repo.

    Raises:
        DatasetError: the dataset cannot be loaded, or its card or build file is missing or malformed.
    """
    from huggingface_hub import DatasetCard

    location = str(path_or_repo_id)
    dataset = load_benchmark(location, revision=revision, decode_videos=False)
    splits = {name: part.num_rows for name, part in dataset.items()}
    columns = next(iter(dataset.values())).column_names
    local = Path(location)
    build: dict[str, Any] = {}
    try:
        if local.is_dir():
            if not (local / "README.md").is_file():
                raise DatasetError(f"dataset folder {local} has no README.md card (was it built by amg-bench?)")
            loaded_card = DatasetCard.load(local / "README.md")
            build = build_info(local) or {}
        else:
            loaded_card = DatasetCard.load(location, repo_type="dataset")
    except AmgBenchError:
        raise
    except Exception as exc:  # huggingface_hub raises OSError / ValueError / yaml errors for bad cards
        raise DatasetError(f"cannot read the card of dataset {location!r}: {' '.join(str(exc).split())}") from exc
    data = loaded_card.data.to_dict()
    card = {k: data.get(k) for k in ("pretty_name", "license", "task_categories", "size_categories", "tags")}
    return DatasetSummary(location, splits, columns, card, build)


@dataclass
class UploadPlan:
    """Files that ``publish`` sends, with sizes, and where."""

    repo_id: str
    folder: Path
    files: list[tuple[str, int]]
    private: bool
    revision: str | None

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def upload_plan(
    folder: str | os.PathLike, repo_id: str, private: bool = False, revision: str | None = None
) -> UploadPlan:
    """Check that ``folder`` is a complete built dataset and list what would be uploaded.

    Raises:
        BuildError: not a built dataset folder (no card, no build info, no shards, bad repo id).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BuildError(f"{folder} is not a folder")
    for required in ("README.md", BUILD_INFO):
        if not (folder / required).is_file():
            raise BuildError(f"{folder} is not a built dataset: {required} is missing (run `amg-bench build-dataset`)")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise BuildError(f"--repo-id must look like USER/NAME, got {repo_id!r}")
    files = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    build = json.loads((folder / BUILD_INFO).read_text())
    expected = {name for split in build.get("splits", {}).values() for name in split.get("files", {})}
    present = {name for name, _ in files}
    if not expected or not expected <= present:
        raise BuildError(f"{folder} misses data shards listed in {BUILD_INFO}: {sorted(expected - present)}")
    return UploadPlan(repo_id, folder, files, private, revision)


def publish(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
) -> UploadPlan:
    """Create the dataset repo (if needed) and upload the folder with ``huggingface_hub``.

    The token comes from ``token``, ``HF_TOKEN`` or ``huggingface-cli login``.
    With ``dry_run`` nothing is sent; the returned plan lists what would be.
    """
    plan = upload_plan(folder, repo_id, private, revision)
    if dry_run:
        return plan
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(plan.folder),
        revision=revision,
        allow_patterns=[name for name, _ in plan.files],
        commit_message=f"Upload dataset built with amg-bench ({len(plan.files)} files)",
    )
    return plan
