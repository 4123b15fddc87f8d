"""Load a built dataset (local folder or Hub repo) and publish a folder to the Hub.

Both sides are the libraries' own calls: ``datasets.load_dataset`` reads the card's ``configs``
and ``huggingface_hub`` uploads the folder. What this module adds is validation and a
readable summary (``amg-bench info``) and an upload plan (``--dry-run``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AmgBenchError, BuildError
from .builder import BUILD_INFO

VIDEO_COLUMNS = ("video", "avatar_video", "pose_video")


def load_benchmark(
    path_or_repo_id: str | os.PathLike,
    split: str | None = None,
    revision: str | None = None,
    decode_videos: bool = True,
):
    """``datasets.load_dataset`` on a built folder or a Hub repo id.

    With ``decode_videos=False`` the video columns come back as ``{"bytes", "path"}`` dicts
    (read them with :func:`amg_bench.video.to_frames`), which avoids torchcodec decoders.

    Raises:
        AmgBenchError: the folder / repo cannot be loaded (offline and not cached, not a dataset).
    """
    import datasets

    target = str(path_or_repo_id)
    try:
        loaded = datasets.load_dataset(target, split=split, revision=revision)
    except (FileNotFoundError, ValueError, ConnectionError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise AmgBenchError(f"cannot load dataset {target!r}: {exc}") from exc
    if not decode_videos:
        parts = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
        columns = [c for c in VIDEO_COLUMNS if c in next(iter(parts)).column_names]
        for column in columns:
            loaded = loaded.cast_column(column, datasets.Video(decode=False))
    return loaded


@dataclass
class DatasetSummary:
    """What ``amg-bench info`` prints."""

    location: str
    splits: dict[str, int]
    columns: list[str]
    card: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)


def dataset_info(path_or_repo_id: str | os.PathLike, revision: str | None = None) -> DatasetSummary:
    """Splits, counts, columns and the card summary of a built folder or Hub repo."""
    from huggingface_hub import DatasetCard

    location = str(path_or_repo_id)
    dataset = load_benchmark(location, revision=revision, decode_videos=False)
    splits = {name: part.num_rows for name, part in dataset.items()}
    columns = next(iter(dataset.values())).column_names
    card, build = {}, {}
    local = Path(location)
    try:
        if local.is_dir():
            loaded_card = DatasetCard.load(local / "README.md")
            build_path = local / BUILD_INFO
            build = json.loads(build_path.read_text()) if build_path.is_file() else {}
        else:
            loaded_card = DatasetCard.load(location, repo_type="dataset")
        data = loaded_card.data.to_dict()
        card = {k: data.get(k) for k in ("pretty_name", "license", "task_categories", "size_categories", "tags")}
    except (OSError, ValueError) as exc:
        card = {"error": str(exc)}
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
