"""The run folder on disk: what a finished clip is, and the files a run writes.

```
<out>/run.json              settings the run was started with (a resume must match them)
<out>/videos/<clip_id>.mp4  generated clips
<out>/scores/<clip_id>.json one record per clip (written by whichever process scored it)
<out>/people/<clip_id>.npz  person boxes, real and generated keypoints (with the pose metrics; gallery overlays)
<out>/scores.jsonl          all records, sorted by clip id (merged by the main process)
<out>/results.json          means, intervals, failures and provenance
```

Every file is written to a temporary name and renamed, so a process killed at any moment
leaves only complete files (and perhaps a hidden ``.*.tmp``, which nothing reads). A clip is
finished when its video and a record without failure exist; anything else is done again
(generated and scored).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import OutputExistsError
from ..files import write_json, write_text
from ..results import RESULTS_FILE

SETTINGS_FILE = "run.json"
SCORES_FILE = "scores.jsonl"
VIDEOS_DIR = "videos"
SCORES_DIR = "scores"
PEOPLE_DIR = "people"


class RunFolder:
    """Paths and records of one evaluation run folder."""

    def __init__(self, out: str | os.PathLike) -> None:
        self.root = Path(out)
        self.videos = self.root / VIDEOS_DIR
        self.scores = self.root / SCORES_DIR

    @property
    def results_path(self) -> Path:
        return self.root / RESULTS_FILE

    @property
    def scores_path(self) -> Path:
        return self.root / SCORES_FILE

    def video_path(self, clip_id: str) -> Path:
        return self.videos / f"{clip_id}.mp4"

    def record_path(self, clip_id: str) -> Path:
        return self.scores / f"{clip_id}.json"

    def write_people(self, clip_id: str, arrays: Mapping[str, Any]) -> None:
        """The clip's person boxes and keypoints, as an ``.npz`` of plain arrays (written atomically)."""
        from ..cache import NPZ
        from ..files import atomic_path

        with atomic_path(self.root / PEOPLE_DIR / f"{clip_id}.npz", suffix=".npz") as tmp:
            NPZ.save(tmp, arrays)

    def read_record(self, clip_id: str) -> dict[str, Any] | None:
        """The clip's record, or ``None`` if it has none (or an unreadable one, which is redone)."""
        path = self.record_path(clip_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("clip_id") == clip_id else None

    def write_record(self, record: Mapping[str, Any]) -> None:
        write_json(self.record_path(record["clip_id"]), dict(record))

    def is_finished(self, clip_id: str) -> bool:
        """Video and a successful record both exist."""
        if not self.video_path(clip_id).is_file():
            return False
        record = self.read_record(clip_id)
        return record is not None and not record.get("failure")

    def check_settings(self, settings: Mapping[str, Any], write: bool) -> None:
        """Refuse to resume a folder started with other settings; record them when ``write`` and new.

        Raises:
            OutputExistsError: ``run.json`` holds different settings (naming the first that differs).
        """
        path = self.root / SETTINGS_FILE
        wanted = json.loads(json.dumps(settings, sort_keys=True, default=str))
        if path.is_file():
            try:
                previous = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise OutputExistsError(
                    f"{path} is unreadable ({type(exc).__name__}: {exc}), so the run in {self.root} cannot be resumed "
                    "safely; delete that folder or use another --out"
                ) from exc
            if previous != wanted:
                key = _first_difference(previous, wanted)
                raise OutputExistsError(
                    f"{self.root} holds a run made with other settings ({key}: was "
                    f"{_get(previous, key)!r}, now {_get(wanted, key)!r}); use another --out or delete it"
                )
        elif write:
            write_json(path, wanted)

    def write_scores(self, records: Iterable[Mapping[str, Any]]) -> None:
        """``scores.jsonl``: one JSON line per record, in the given order."""
        write_text(self.scores_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def _first_difference(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{prefix}{key}.")
    return prefix.rstrip(".") or "settings"


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return data
        data = data.get(part)
    return data
