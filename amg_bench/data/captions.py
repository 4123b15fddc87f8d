"""The captions file of a source: scene captions per frame or per window, appearance per person.

JSON, UTF-8::

    {
      "scene_frames":  {"24": "Two people walk towards each other ...", "25": "..."},
      "scene_windows": {"0": "caption of the window starting at source frame 0"},
      "appearance":    {"person0": "A woman in a red coat ...", "person1": "..."}
    }

A window takes ``scene_windows[start]`` when present, otherwise the caption of its middle frame
``scene_frames[start + 24]`` (the paper captions the middle frame). At least one of the two maps
is required; ``appearance`` needs an entry for every person who appears in a window.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CaptionError
from ..files import write_json

_KEYS = {"scene_frames", "scene_windows", "appearance"}


@dataclass
class Captions:
    """Scene captions by source frame and/or window start, and appearance by person id."""

    scene_frames: dict[int, str] = field(default_factory=dict)
    scene_windows: dict[int, str] = field(default_factory=dict)
    appearance: dict[str, str] = field(default_factory=dict)

    def scene(self, start: int, caption_frame: int) -> str | None:
        """Caption of the window starting at ``start``, or None when the file lacks it."""
        return self.scene_windows.get(start, self.scene_frames.get(caption_frame))

    def check_covers(self, windows: Iterable[tuple[int, int]], person_ids: Iterable[str], where: str) -> None:
        """Fail unless every ``(start, caption_frame)`` and every person has a caption.

        Raises:
            CaptionError: listing the first missing frames or persons.
        """
        missing = sorted({frame for start, frame in windows if self.scene(start, frame) is None})
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise CaptionError(
                f"captions {where} lack scene captions for {len(missing)} window middle frame(s): {shown}"
            )
        people = sorted(set(person_ids) - set(self.appearance))
        if people:
            raise CaptionError(f"captions {where} lack appearance captions for persons {people}")

    def to_json(self) -> dict:
        return {
            "scene_frames": {str(k): v for k, v in sorted(self.scene_frames.items())},
            "scene_windows": {str(k): v for k, v in sorted(self.scene_windows.items())},
            "appearance": dict(sorted(self.appearance.items())),
        }


def _int_keyed(raw: object, name: str, where: str) -> dict[int, str]:
    if not isinstance(raw, dict):
        raise CaptionError(f"captions {where}: '{name}' must be an object mapping frame numbers to text")
    out = {}
    for key, text in raw.items():
        try:
            frame = int(key)
        except (TypeError, ValueError):
            raise CaptionError(f"captions {where}: '{name}' key {key!r} is not a frame number") from None
        if frame < 0 or not isinstance(text, str) or not text.strip():
            raise CaptionError(f"captions {where}: '{name}[{key}]' must be non-empty text at a frame >= 0")
        out[frame] = text.strip()
    return out


def load_captions(path: str | os.PathLike) -> Captions:
    """Read and validate a captions file.

    Raises:
        CaptionError: missing file, invalid JSON, unknown keys, or malformed entries.
    """
    path = Path(path)
    if path.is_dir():
        raise CaptionError(f"captions file {path} is a folder, not a JSON file")
    if not path.is_file():
        raise CaptionError(f"captions file {path} does not exist")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CaptionError(f"captions file {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise CaptionError(f"captions file {path} must hold a JSON object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise CaptionError(f"captions file {path} has unknown keys {unknown}; allowed: {sorted(_KEYS)}")
    if "scene_frames" not in raw and "scene_windows" not in raw:
        raise CaptionError(f"captions file {path} needs 'scene_frames' or 'scene_windows'")
    appearance = raw.get("appearance", {})
    if not isinstance(appearance, dict) or not all(isinstance(v, str) for v in appearance.values()):
        raise CaptionError(f"captions file {path}: 'appearance' must map person ids to text")
    return Captions(
        scene_frames=_int_keyed(raw.get("scene_frames", {}), "scene_frames", str(path)),
        scene_windows=_int_keyed(raw.get("scene_windows", {}), "scene_windows", str(path)),
        appearance={str(k): v.strip() for k, v in appearance.items()},
    )


def save_captions(path: str | os.PathLike, captions: Captions) -> None:
    """Write a captions file atomically."""
    write_json(path, captions.to_json())
