"""Load a built dataset (local folder or Hub repo), read its video cells, publish a folder to the Hub.

This is the one data-access path: every reader of the dataset (evaluation, training, the
leaderboard gallery, ``info``) goes through :func:`load_benchmark` and :func:`video_cell_bytes`.
Both sides are the libraries' own calls: ``datasets.load_dataset`` reads the card's ``configs``
and ``huggingface_hub`` commits the folder. What this module adds is validation with one-line
errors, a shard check against the build's recorded sha256, a readable summary (``amg-bench info``)
and an upload plan (``--dry-run``) that makes publishing twice safe: one commit uploads exactly
the files the build info lists (sha256 checked) and deletes the repo's ``data/`` files an older
build left, which the card's ``data/<split>-*`` patterns would otherwise also load.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AmgBenchError, BuildError, DatasetError
from .writer import BUILD_INFO, VIDEO_COLUMNS

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _is_local(target: str) -> bool:
    """A target that can only be a path: it exists, or it is written like one (not ``owner/name``)."""
    return Path(target).expanduser().exists() or not _REPO_ID.match(target) or target.startswith((".", "/", "~"))


def load_benchmark(
    path_or_repo_id: str | os.PathLike,
    split: str | None = None,
    revision: str | None = None,
    decode_videos: bool = True,
    cache_root: str | os.PathLike | None = None,
):
    """``datasets.load_dataset`` on a built folder or a Hub repo id.

    With ``decode_videos=False`` the video columns come back as ``{"bytes", "path"}`` dicts;
    read them with :func:`video_cell_bytes` and :func:`amg_bench.video.read_video`. A local
    folder is checked first (card front matter, shards against the build's sha256, no stray data
    files; :mod:`amg_bench.data.local_folder`) and read through a ``datasets`` cache keyed by its
    content. ``cache_root`` is the content cache of the shard hashes (default: the package's).

    Raises:
        DatasetError: a missing folder, a repo that is offline and not cached, no such split, or
            data files ``datasets`` cannot read (truncated, empty, mixed schemas, a malformed card);
            the message names the dataset and the cause.
    """
    import datasets

    target = str(path_or_repo_id)
    options: dict[str, Any] = {}
    if _is_local(target):
        from .local_folder import check_folder

        local = Path(target).expanduser()
        if not local.exists():
            raise DatasetError(f"dataset folder {local} does not exist")
        if not local.is_dir():
            raise DatasetError(f"dataset {local} is a file; give the built dataset's folder")
        options["cache_dir"] = str(check_folder(local, cache_root))
    try:
        loaded = datasets.load_dataset(target, split=split, revision=revision, **options)
    except AmgBenchError:
        raise
    except Exception as exc:  # datasets and pyarrow raise many kinds for unreadable inputs
        root = exc
        while (root.__cause__ or root.__context__) is not None:  # datasets wraps the reader's error
            root = root.__cause__ or root.__context__
        cause = " ".join(str(exc).split()) or type(exc).__name__
        if root is not exc:
            cause += f" (cause: {type(root).__name__}: {' '.join(str(root).split())})"
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
    local = Path(location)
    if local.is_dir() and not (local / "README.md").is_file():
        raise DatasetError(f"dataset folder {local} has no README.md card (was it built by amg-bench?)")
    dataset = load_benchmark(location, revision=revision, decode_videos=False)
    splits = {name: part.num_rows for name, part in dataset.items()}
    columns = next(iter(dataset.values())).column_names
    build: dict[str, Any] = {}
    try:
        if local.is_dir():
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
