"""Read and validate ``results.json`` files (schema version 1) written by the evaluation runner.

The leaderboard reads only these files (and the videos they point to). Every field it uses is
checked here, at the boundary, so a malformed file fails with a :class:`ResultsError` that
names the file, the field and the value instead of a ``KeyError`` deep inside rendering.
The schema is small and fixed, so it is checked by hand rather than with a schema library.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ResultsError

SCHEMA_VERSION = 1
#: Metric keys a results file may hold, in display order. Higher is better for all of them.
METRICS = ("clip_score", "motion_fidelity_chamfer", "motion_fidelity_dmt")
TRACKERS = ("klt", "cotracker")
MOTION_VARIANTS = ("chamfer", "dmt")


@dataclass(frozen=True)
class MetricSummary:
    """Mean over clips with its 95% bootstrap interval ``(low, high)`` and the clip count ``n``."""

    mean: float
    ci95: tuple[float, float]
    n: int


@dataclass(frozen=True)
class ClipProtocol:
    """How the CLIP score was computed (open_clip model name, pretrained tag, text context)."""

    model: str
    pretrained: str
    context_length: int


@dataclass(frozen=True)
class MotionProtocol:
    """How motion fidelity was computed (tracker, its settings, grid, comparison size)."""

    tracker: str
    tracker_config: dict[str, Any]
    grid_size: int
    eval_size: tuple[int, int]
    variants: tuple[str, ...]
    reference: str


@dataclass(frozen=True)
class Protocol:
    """Evaluation settings; ``clip``/``motion`` are ``None`` when that metric was not scored."""

    clip: ClipProtocol | None
    motion: MotionProtocol | None
    num_frames: int
    fps: float


@dataclass(frozen=True)
class Results:
    """One validated results file. ``videos_dir`` is resolved against the file's folder."""

    path: Path
    method: str
    method_options: dict[str, Any]
    dataset_id: str
    split: str
    fingerprint: str
    revision: str | None
    protocol: Protocol
    metrics: dict[str, MetricSummary]
    num_clips: int
    failures: tuple[dict[str, str], ...]
    clips: tuple[str, ...]
    videos_dir: Path
    seed: int | None
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""

    def video_path(self, clip_id: str) -> Path:
        """Where the runner wrote the generated video of ``clip_id``."""
        return self.videos_dir / f"{clip_id}.mp4"


class _Fields:
    """Typed access to a JSON object that reports the dotted field name on every error."""

    def __init__(self, source: Path, data: Any, prefix: str = ""):
        self.source, self.prefix = source, prefix
        if not isinstance(data, dict):
            raise self.error(prefix.rstrip(".") or "<top level>", data, "must be an object")
        self.data = data

    def error(self, name: str, value: Any, problem: str) -> ResultsError:
        return ResultsError(f"{self.source}: field {name!r} {problem}, got {value!r}")

    def _get(self, key: str, optional: bool) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise ResultsError(f"{self.source}: missing field {self.prefix + key!r}")
        return self.data[key]

    def obj(self, key: str, optional: bool = False) -> _Fields | None:
        value = self._get(key, optional)
        return None if value is None else _Fields(self.source, value, f"{self.prefix}{key}.")

    def string(self, key: str, optional: bool = False) -> str | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(self.prefix + key, value, "must be a non-empty string")
        return value

    def integer(self, key: str, minimum: int = 0, optional: bool = False) -> int | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(self.prefix + key, value, f"must be an integer >= {minimum}")
        return value

    def number(self, key: str) -> float:
        return _finite(self, self.prefix + key, self._get(key, False))

    def array(self, key: str) -> list:
        value = self._get(key, False)
        if not isinstance(value, list):
            raise self.error(self.prefix + key, value, "must be a list")
        return value

    def mapping(self, key: str) -> dict:
        value = self._get(key, False)
        if not isinstance(value, dict):
            raise self.error(self.prefix + key, value, "must be an object")
        return value


def _finite(fields: _Fields, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fields.error(name, value, "must be a finite number")
    return float(value)


def _clip_protocol(fields: _Fields | None) -> ClipProtocol | None:
    if fields is None:
        return None
    return ClipProtocol(fields.string("model"), fields.string("pretrained"), fields.integer("context_length", 1))


def _motion_protocol(fields: _Fields | None) -> MotionProtocol | None:
    if fields is None:
        return None
    tracker = fields.string("tracker")
    if tracker not in TRACKERS:
        raise fields.error(fields.prefix + "tracker", tracker, f"must be one of {list(TRACKERS)}")
    eval_size = fields.array("eval_size")
    if len(eval_size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in eval_size):
        raise fields.error(fields.prefix + "eval_size", eval_size, "must be [height, width] of positive integers")
    variants = fields.array("variants")
    if not variants or any(v not in MOTION_VARIANTS for v in variants) or len(set(variants)) != len(variants):
        raise fields.error(fields.prefix + "variants", variants, f"must be distinct values of {list(MOTION_VARIANTS)}")
    return MotionProtocol(
        tracker=tracker,
        tracker_config=fields.mapping("tracker_config"),
        grid_size=fields.integer("grid_size", 1),
        eval_size=(eval_size[0], eval_size[1]),
        variants=tuple(variants),
        reference=fields.string("reference"),
    )


def _metric(fields: _Fields, num_clips: int) -> MetricSummary:
    ci = fields.array("ci95")
    name = fields.prefix + "ci95"
    if len(ci) != 2:
        raise fields.error(name, ci, "must be [low, high]")
    low, high = (_finite(fields, name, v) for v in ci)
    if low > high:
        raise fields.error(name, ci, "must have low <= high")
    n = fields.integer("n", 1)
    if n > num_clips:
        raise fields.error(fields.prefix + "n", n, f"cannot exceed num_clips ({num_clips})")
    return MetricSummary(fields.number("mean"), (low, high), n)


def _metrics(fields: _Fields, protocol: Protocol, num_clips: int) -> dict[str, MetricSummary]:
    metrics = {}
    for key in fields.data:
        if key not in METRICS:
            raise fields.error(f"metrics.{key}", key, f"is not a known metric {list(METRICS)}")
    for key in METRICS:
        sub = fields.obj(key, optional=True)
        if sub is None:
            continue
        if key == "clip_score" and protocol.clip is None:
            raise fields.error("protocol.clip", None, "must describe the CLIP model when metrics.clip_score is present")
        if key.startswith("motion_fidelity_"):
            variant = key.removeprefix("motion_fidelity_")
            if protocol.motion is None or variant not in protocol.motion.variants:
                raise fields.error(
                    "protocol.motion.variants",
                    None if protocol.motion is None else list(protocol.motion.variants),
                    f"must include {variant!r} when metrics.{key} is present",
                )
        metrics[key] = _metric(sub, num_clips)
    return metrics


def parse_results(data: Any, path: str | os.PathLike) -> Results:
    """Validate a decoded results object; ``path`` names it in errors and anchors ``videos_dir``.

    Raises:
        ResultsError: a missing field, wrong type or inconsistent value, naming the dotted field.
    """
    path = Path(path)
    top = _Fields(path, data)
    version = top._get("schema_version", False)
    if version != SCHEMA_VERSION:
        raise top.error("schema_version", version, f"must be {SCHEMA_VERSION}")
    method = top.obj("method")
    dataset = top.obj("dataset")
    proto = top.obj("protocol")
    protocol = Protocol(
        clip=_clip_protocol(proto.obj("clip", optional=True)),
        motion=_motion_protocol(proto.obj("motion", optional=True)),
        num_frames=proto.integer("num_frames", 1),
        fps=proto.number("fps"),
    )
    if protocol.fps <= 0:
        raise top.error("protocol.fps", protocol.fps, "must be positive")
    num_clips = top.integer("num_clips", 1)
    clips = top.array("clips")
    if any(not isinstance(c, str) or not c or "/" in c or c.startswith(".") for c in clips):
        raise top.error("clips", clips, "must be clip ids (non-empty strings without '/' or a leading '.')")
    if len(set(clips)) != len(clips) or len(clips) != num_clips:
        found = f"{len(clips)} ids ({len(set(clips))} distinct)"
        raise top.error("clips", found, f"must list num_clips={num_clips} distinct ids")
    failures = top.array("failures")
    for i, failure in enumerate(failures):
        item = _Fields(path, failure, f"failures[{i}].")
        item.string("clip_id")
        item.string("reason")
    videos_dir = Path(top.string("videos_dir"))
    seed = top._get("seed", True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise top.error("seed", seed, "must be an integer or null")
    versions = top.mapping("versions")
    created = top.string("created")
    return Results(
        path=path,
        method=method.string("name"),
        method_options=method.mapping("options"),
        dataset_id=dataset.string("id"),
        split=dataset.string("split"),
        fingerprint=dataset.string("fingerprint"),
        revision=dataset.string("revision", optional=True),
        protocol=protocol,
        metrics=_metrics(top.obj("metrics"), protocol, num_clips),
        num_clips=num_clips,
        failures=tuple(failures),
        clips=tuple(clips),
        videos_dir=videos_dir if videos_dir.is_absolute() else path.parent / videos_dir,
        seed=seed,
        versions=versions,
        created=created,
    )


def load_results(path: str | os.PathLike) -> Results:
    """Read and validate one results file; a directory means its ``results.json``.

    Raises:
        ResultsError: the file is missing, not JSON, or fails validation (field named).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise ResultsError(f"results file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from exc
    return parse_results(data, path)
