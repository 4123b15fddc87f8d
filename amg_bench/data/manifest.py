"""The source manifest: which real videos, motion files and captions make up a dataset.

YAML::

    sources:
      - id: film_a                 # optional; default: the video's file stem
        video: videos/film_a.mp4   # 24 fps source video
        motion: motion/film_a.npz  # the package's motion format (amg_bench.data.motion)
        captions: captions/film_a.json
        avatar_video: renders/film_a_avatar.mp4   # optional: precomputed avatar render
        pose_video: renders/film_a_parts.mp4      # optional: precomputed part rendering

Relative paths are relative to the manifest file. Precomputed videos must have the source
video's frame count and size; they are used instead of rendering.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..errors import ManifestError

_SOURCE_KEYS = {"id", "video", "motion", "captions", "avatar_video", "pose_video"}
_REQUIRED = ("video", "motion", "captions")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class SourceSpec:
    """Files of one source video."""

    id: str
    video: Path
    motion: Path
    captions: Path
    avatar_video: Path | None = None
    pose_video: Path | None = None


def load_manifest(path: str | os.PathLike, may_be_missing: Collection[str] = ()) -> list[SourceSpec]:
    """Parse and validate a manifest; every named file must exist.

    ``may_be_missing`` names fields whose files need not exist yet (``amg-bench caption``
    writes the ``captions`` files a manifest names).

    Raises:
        ManifestError: unreadable YAML, unknown keys, missing fields or files, duplicate ids.
    """
    from ..readers import read_yaml

    path = Path(path)
    raw = read_yaml(path, "manifest", ManifestError)
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest {path} must be a mapping with a 'sources' list")
    unknown = sorted(set(raw) - {"sources"})
    if unknown:
        raise ManifestError(f"manifest {path} has unknown top-level keys {unknown}; allowed: ['sources']")
    entries = raw.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ManifestError(f"manifest {path}: 'sources' must be a non-empty list")
    base = path.parent
    sources, seen = [], set()
    for index, entry in enumerate(entries):
        where = f"manifest {path}: sources[{index}]"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where} must be a mapping")
        unknown = sorted(set(entry) - _SOURCE_KEYS)
        if unknown:
            raise ManifestError(f"{where} has unknown keys {unknown}; allowed: {sorted(_SOURCE_KEYS)}")
        missing = [key for key in _REQUIRED if not entry.get(key)]
        if missing:
            raise ManifestError(f"{where} misses required fields {missing}")
        files = {}
        for key in ("video", "motion", "captions", "avatar_video", "pose_video"):
            if entry.get(key) is None:
                continue
            file = (base / str(entry[key])).resolve()
            if file.is_dir():
                raise ManifestError(f"{where}.{key}: {file} is a folder, not a file")
            if not file.is_file() and key not in may_be_missing:
                raise ManifestError(f"{where}.{key}: file {file} does not exist")
            files[key] = file
        source_id = str(entry.get("id") or files["video"].stem)
        if not _ID.match(source_id):
            raise ManifestError(f"{where}.id {source_id!r} must match {_ID.pattern} (it names clips)")
        if source_id in seen:
            raise ManifestError(f"{where}.id {source_id!r} is used twice")
        seen.add(source_id)
        sources.append(SourceSpec(id=source_id, **files))
    return sources
