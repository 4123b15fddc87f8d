"""Load a built dataset (local folder or Hub repo) and publish a folder to the Hub.

Both sides are the libraries' own calls: ``datasets.load_dataset`` reads the card's ``configs``
and ``huggingface_hub`` commits the folder. What this module adds is validation, a readable
summary (``amg-bench info``) and an upload plan (``--dry-run``) that makes publishing twice
safe: one commit uploads exactly the files the build info lists (sha256 checked) and deletes
the repo's ``data/`` files an older build left, which the card's ``data/<split>-*`` patterns
would otherwise also load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AmgBenchError, BuildError
from .writer import BUILD_INFO

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
    """What ``publish`` sends (files with sizes), deletes (stale ``data/`` files of the repo), and where.

    ``notes`` are warnings for the user: files left out, repo visibility kept or changed, a
    remote that could not be listed.
    """

    repo_id: str
    folder: Path
    files: list[tuple[str, int]]
    private: bool
    revision: str | None
    delete: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def _check_repo_id(repo_id: str) -> None:
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise BuildError(f"--repo-id must look like USER/NAME, got {repo_id!r}")


def upload_plan(
    folder: str | os.PathLike, repo_id: str, private: bool = False, revision: str | None = None
) -> UploadPlan:
    """Check that ``folder`` is a complete built dataset and list what would be uploaded.

    Uploaded are the card, the build info and exactly the shards the build info lists, each
    checked against its recorded sha256; other files are named in ``notes`` and left out.

    Raises:
        BuildError: not a built dataset folder (no card, no build info, a part of a sharded
            build), a bad repo id, a symbolic link in the folder, or a listed shard that is
            missing or whose bytes changed.
    """
    from ..files import sha256_file

    folder = Path(folder)
    if not folder.is_dir():
        raise BuildError(f"{folder} is not a folder")
    _check_repo_id(repo_id)
    links = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_symlink())
    if links:
        raise BuildError(
            f"{folder} holds symbolic links {links[:5]}: publish uploads only the files a build wrote; "
            "replace the links by the files (or rebuild)"
        )
    if not (folder / BUILD_INFO).is_file():
        raise BuildError(f"{folder} is not a built dataset: {BUILD_INFO} is missing (run `amg-bench build-dataset`)")
    try:
        build = json.loads((folder / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"{folder / BUILD_INFO} is not readable JSON: {exc}") from exc
    if isinstance(build, dict) and "part" in build:
        raise BuildError(
            f"{folder} is one part of a sharded build (--shard); join the parts first: amg-bench merge-shards OUT PARTS..."
        )
    if not isinstance(build, dict) or not (folder / "README.md").is_file():
        raise BuildError(f"{folder} is not a built dataset: README.md is missing (run `amg-bench build-dataset`)")
    expected = {
        name: digest for split in build.get("splits", {}).values() for name, digest in split.get("files", {}).items()
    }
    if not expected:
        raise BuildError(f"{folder}: {BUILD_INFO} lists no data shard")
    for name, digest in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            raise BuildError(f"{folder} misses the data shard {name} listed in {BUILD_INFO}")
        actual = sha256_file(path)
        if actual != digest:
            raise BuildError(
                f"{folder}: shard {name} has sha256 {actual[:16]}..., but {BUILD_INFO} records {digest[:16]}...: "
                "the folder changed after the build; rebuild it"
            )
    names = ["README.md", BUILD_INFO, *sorted(expected)]
    files = [(name, (folder / name).stat().st_size) for name in names]
    extra = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).as_posix() not in names
    )
    notes = [f"not uploaded (not listed in {BUILD_INFO}): {', '.join(extra[:10])}{' ...' if len(extra) > 10 else ''}"]
    return UploadPlan(repo_id, folder, files, private, revision, notes=notes if extra else [], sha256=expected)


def _stale_remote_files(api, plan: UploadPlan) -> list[str]:
    """Files under ``data/`` in the repo (at the revision; a new branch starts as main) that this upload does not write."""
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        remote = api.list_repo_files(plan.repo_id, repo_type="dataset", revision=plan.revision)
    except RevisionNotFoundError:
        remote = api.list_repo_files(plan.repo_id, repo_type="dataset")
    ours = {name for name, _ in plan.files}
    return sorted(name for name in remote if name.startswith("data/") and name not in ours)


def publish(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    api=None,
) -> UploadPlan:
    """Upload a built folder to a Hub dataset repo in one commit, replacing what an older build left.

    1. Check the folder (:func:`upload_plan`: listed shards only, sha256 verified, no links).
    2. Create the repo (``private`` as asked), or, when it exists, make it private if asked
       (a private repo is never made public; that is noted).
    3. Create the branch ``revision`` if needed.
    4. One commit: delete the repo's ``data/`` files this build does not write (shards of an
       older build with another shard count would match the card's ``data/<split>-*`` pattern),
       add the shards and build info, and the card with the repo id in its usage snippet.

    The token comes from ``token``, ``HF_TOKEN`` or ``huggingface-cli login``; ``api`` is an
    ``HfApi``-like object (default ``HfApi(token=token)``). With ``dry_run`` nothing is
    changed; the plan lists what would be, and the stale files when the repo can be read.

    Raises:
        BuildError: see :func:`upload_plan`; a shard that changed while being uploaded.
        AmgBenchError: the Hub cannot be reached (offline, no network).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    from .card import card_for_repo

    plan = upload_plan(folder, repo_id, private, revision)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    try:
        exists = api.repo_exists(repo_id, repo_type="dataset")
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError) as exc:
        if not dry_run:
            raise AmgBenchError(f"cannot reach the Hub to publish datasets/{repo_id}: {exc}") from exc
        plan.notes.append(f"cannot reach the Hub ({type(exc).__name__}): the repo's stale files are not listed")
        return plan
    if exists:
        info = api.repo_info(repo_id, repo_type="dataset")
        if private and not info.private:
            if dry_run:
                plan.notes.append(f"would make the existing public repo {repo_id} private")
            else:
                try:
                    api.update_repo_settings(repo_id, repo_type="dataset", private=True)
                    plan.notes.append(f"made the existing repo {repo_id} private")
                except HfHubHTTPError as exc:
                    plan.notes.append(f"--private not applied: the repo exists and cannot be made private ({exc})")
        elif not private and info.private:
            plan.notes.append(f"the repo {repo_id} exists and is private; left private (publish never makes it public)")
    elif dry_run:
        plan.notes.append(f"would create the {'private' if private else 'public'} dataset repo {repo_id}")
    else:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if exists:
        plan.delete = _stale_remote_files(api, plan)
    if dry_run:
        return plan
    if revision:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    card = card_for_repo((plan.folder / "README.md").read_text(encoding="utf-8"), repo_id)
    operations = [CommitOperationDelete(path_in_repo=name) for name in plan.delete]
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8")))
    for name, _ in plan.files:
        if name == "README.md":
            continue
        operation = CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(plan.folder / name))
        recorded = plan.sha256.get(name)
        if recorded is not None and operation.upload_info.sha256.hex() != recorded:
            raise BuildError(f"{plan.folder / name} changed after it was checked; nothing was uploaded")
        operations.append(operation)
    api.create_commit(
        repo_id,
        operations,
        commit_message=f"Upload dataset built with amg-bench ({len(plan.files)} files, {len(plan.delete)} stale removed)",
        repo_type="dataset",
        revision=revision,
    )
    return plan
