"""The resumable work folder of a build: finished units survive a crash, the rest is redone.

A build of ``OUT`` keeps its state in the hidden sibling ``.OUT.build/``:

* ``units/<unit id>/`` - one finished build unit (a source, or a chunk of one): its parquet
  shards and ``unit.json`` (its key, row counts, shard hashes and row digests). A unit is
  written under ``units/.<unit id>.*.tmp/`` and renamed when complete, so a unit folder is
  either whole or absent, whichever process wrote it and whenever it was killed;
* a unit is reused only when its key - the content and layout options, the source's files
  (paths, sizes and modification times of the videos, sha256 of the motion and captions) and
  the unit's windows - equals the key the current command computes; anything else is redone.

The next run of the same command removes what killed runs left behind (unit ``.tmp``
folders, ``.OUT.*.partial`` folders of an interrupted final rename) and keeps the finished
units; ``--overwrite`` drops them too. After the dataset folder is complete the work folder is
deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..files import sha256_file, write_json

UNIT_INFO = "unit.json"


def source_identity(spec) -> dict[str, Any]:
    """What identifies a source's files without reading the videos: path, size, mtime; sha256 of the small files."""

    def stat(path: Path | None) -> list | None:
        if path is None:
            return None
        info = Path(path).stat()
        return [str(path), info.st_size, info.st_mtime_ns]

    return {
        "id": spec.id,
        "video": stat(spec.video),
        "avatar_video": stat(spec.avatar_video),
        "pose_video": stat(spec.pose_video),
        "motion": sha256_file(spec.motion),
        "captions": sha256_file(spec.captions),
    }


def unit_key(parts: dict[str, Any]) -> str:
    """Hex sha256 of a unit's canonical JSON description."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def leftover_partials(out: Path) -> list[Path]:
    """Folders an interrupted :func:`amg_bench.files.atomic_directory` of ``out`` left behind."""
    return sorted(p for p in out.parent.glob(f".{out.name}.*.partial") if p.is_dir()) + [
        p for p in [out.with_name(f".{out.name}.old")] if p.is_dir()
    ]


class BuildWork:
    """The work folder ``.OUT.build`` of a build of ``out``."""

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.root = self.out.parent / f".{self.out.name}.build"
        self.units = self.root / "units"

    def open(self, overwrite: bool = False) -> None:
        """Create the folder; remove killed runs' leftovers (all finished units too with ``overwrite``)."""
        for path in leftover_partials(self.out):
            shutil.rmtree(path, ignore_errors=True)
        if overwrite and self.units.exists():
            shutil.rmtree(self.units)
        self.units.mkdir(parents=True, exist_ok=True)
        for tmp in self.units.glob(".*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)

    def finished(self, unit_id: str, key: str) -> dict[str, Any] | None:
        """The record of a finished unit with this key whose shards are all present, else None."""
        folder = self.units / unit_id
        try:
            record = json.loads((folder / UNIT_INFO).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        for split in record.get("splits", {}).values():
            for name in split.get("files", []):
                path = folder / name
                if not path.is_file() or path.stat().st_size == 0:
                    return None
        return record

    def new_unit(self, unit_id: str) -> Path:
        """A fresh temporary folder for a unit (renamed by :meth:`commit`)."""
        self.units.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{unit_id}.", suffix=".tmp", dir=self.units))

    def commit(self, tmp: Path, unit_id: str, record: dict[str, Any]) -> Path:
        """Write the unit's record into ``tmp`` and rename it to ``units/<unit_id>``."""
        write_json(tmp / UNIT_INFO, record)
        final = self.units / unit_id
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final

    def prune(self, keep: set[str]) -> None:
        """Remove finished units that the current plan does not use."""
        if not self.units.is_dir():
            return
        for folder in self.units.iterdir():
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)

    def has_finished_units(self) -> bool:
        return self.units.is_dir() and any(
            (folder / UNIT_INFO).is_file() for folder in self.units.iterdir() if not folder.name.startswith(".")
        )

    def clean_after_failure(self) -> None:
        """Drop unfinished units; drop the whole folder when nothing finished is left in it."""
        if self.units.is_dir():
            for tmp in self.units.glob(".*.tmp"):
                shutil.rmtree(tmp, ignore_errors=True)
        if not self.has_finished_units():  # nothing worth keeping: the folder goes (its lock file too)
            shutil.rmtree(self.root, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
