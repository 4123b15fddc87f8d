"""The results schema: what ``results.json`` holds, declared once for the runner, the leaderboard and the tests.

Everything that names a metric, a tracker or a motion-fidelity variant imports it from here.
:class:`Results` is written by the evaluation runner (:meth:`Results.to_dict`) and read by the
leaderboard (:meth:`Results.from_dict`, which validates every field at the boundary and names
the file, the dotted field and the value on error). The schema is small and fixed, so it is
checked by hand rather than with a schema library.

Schema version 2 (version 1 files are refused with a hint to re-run ``evaluate``)::

    schema_version: 2
    method:   {name, class, options, config_file, requires, uses_prompt, role}
    dataset:  {id, split, fingerprint, revision}
    protocol: {name, reference, clip|null, motion|null, identity|null, pose|null, num_frames, fps, video_encoding,
               interval}   # reference: "real", or "condition" for the controls split (absent: "real")
    metrics:  {<key>: {mean, ci95: [low, high] | null, n, n_sources}}
    diagnostics: {<key>: {mean, ci95, n, n_sources}}     # not ranked (e.g. dropped points)
    num_clips, clips, failures: [{clip_id, reason}], videos_dir (relative), seed, versions, created
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import ResultsError

SCHEMA_VERSION = 2
RESULTS_FILE = "results.json"

#: Point trackers whose results can appear in a results file.
TRACKERS = ("klt", "cotracker")
#: Motion-fidelity variants (both computed from the same tracks).
MOTION_VARIANTS = ("chamfer", "dmt")
#: What ``--metrics`` may name; each produces some of :data:`METRICS`.
METRIC_GROUPS = ("clip", "motion", "identity", "pose")
#: The groups scored unless ``--metrics`` says otherwise (the per-person ones need two more models).
DEFAULT_METRIC_GROUPS = ("clip", "motion")
#: Method roles: only ``method`` rows are ranked; references and calibrations are labelled rows.
ROLES = ("method", "reference", "calibration")
#: Names of the evaluation protocols (``custom``: settings that match no named protocol).
PROTOCOLS = ("full", "paper", "offline", "custom")
#: What motion and pose were scored against: the real clip, or the condition render (the ``controls``
#: split, which has no real video: its pose targets are the render's projected joints).
REFERENCES = ("real", "condition")


@dataclass(frozen=True)
class MetricSpec:
    """One per-clip metric key: its title, direction, the ``--metrics`` group that produces it."""

    key: str
    title: str
    higher_is_better: bool
    group: str
    description: str

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


def _spec(key: str, title: str, group: str, description: str, higher_is_better: bool = True) -> MetricSpec:
    return MetricSpec(key, title, higher_is_better, group, description)


#: Every metric key a results file may hold, in display order.
METRICS: dict[str, MetricSpec] = {
    spec.key: spec
    for spec in (
        _spec("clip_score", "CLIP score", "clip", "mean over frames of 100*max(cos(image, caption), 0)"),
        _spec(
            "motion_fidelity_chamfer",
            "Motion fidelity (chamfer)",
            "motion",
            "AMG appendix: mean of the two directed best-correlation means of unit displacements, x100",
        ),
        _spec(
            "motion_fidelity_dmt",
            "Motion fidelity (DMT)",
            "motion",
            "DMT release: generated -> reference, correlation matrix minus the identity, x100",
        ),
        _spec(
            "motion_fidelity_foreground_chamfer",
            "Foreground motion fidelity (chamfer)",
            "motion",
            "chamfer variant on the query points inside the people's frame-0 masks",
        ),
        _spec(
            "motion_fidelity_foreground_dmt",
            "Foreground motion fidelity (DMT)",
            "motion",
            "DMT variant on the query points inside the people's frame-0 masks",
        ),
        _spec(
            "identity_consistency",
            "Identity consistency",
            "identity",
            "100 x mean cosine of each person's masked crop to their frame-0 crop (DINOv2)",
        ),
        _spec(
            "identity_swap_rate",
            "Identity swap rate",
            "identity",
            "% of (frame, person) crops closer to another person's frame-0 crop than to their own",
            False,
        ),
        _spec(
            "pose_pck",
            "Pose PCK@0.1",
            "pose",
            "% of keypoints confident in the real frame found within 0.1 x the box side in the generated one",
        ),
        _spec("pose_akd", "Pose AKD (px)", "pose", "mean distance of those keypoints, pixels", False),
        _spec("pose_mkr", "Pose MKR", "pose", "% of those keypoints not detected in the generated frame", False),
    )
}


def motion_key(variant: str) -> str:
    """The metric key of a motion-fidelity variant."""
    return f"motion_fidelity_{variant}"


@dataclass(frozen=True)
class MetricSummary:
    """Mean over clips, its 95% interval (``None`` when it cannot be estimated), clip and source counts."""

    mean: float
    ci95: tuple[float, float] | None
    n: int
    n_sources: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "ci95": None if self.ci95 is None else list(self.ci95),
            "n": self.n,
            "n_sources": self.n_sources,
        }


@dataclass(frozen=True)
class ClipProtocol:
    """How the CLIP score was computed."""

    model: str
    pretrained: str
    context_length: int
    dtype: str = "float32"
    activation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "pretrained": self.pretrained,
            "context_length": self.context_length,
            "dtype": self.dtype,
            "activation": self.activation,
        }


@dataclass(frozen=True)
class MotionProtocol:
    """How motion fidelity was computed: tracker, its settings, grid, comparison size, reference."""

    tracker: str
    tracker_config: dict[str, Any]
    grid_size: int
    eval_size: tuple[int, int]
    variants: tuple[str, ...]
    reference: str
    drop_lost: bool = True
    foreground: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker,
            "tracker_config": self.tracker_config,
            "grid_size": self.grid_size,
            "eval_size": list(self.eval_size),
            "variants": list(self.variants),
            "reference": self.reference,
            "drop_lost": self.drop_lost,
            "foreground": self.foreground,
        }


@dataclass(frozen=True)
class Protocol:
    """Evaluation settings; ``clip``/``motion``/``identity``/``pose`` are ``None`` when that metric was not scored."""

    name: str
    clip: ClipProtocol | None
    motion: MotionProtocol | None
    num_frames: int
    fps: float
    video_encoding: dict[str, Any] = field(default_factory=dict)
    interval: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] | None = None
    pose: dict[str, Any] | None = None
    reference: str = "real"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reference": self.reference,
            "clip": None if self.clip is None else self.clip.to_dict(),
            "motion": None if self.motion is None else self.motion.to_dict(),
            "identity": self.identity,
            "pose": self.pose,
            "num_frames": self.num_frames,
            "fps": self.fps,
            "video_encoding": dict(self.video_encoding),
            "interval": dict(self.interval),
        }


@dataclass(frozen=True)
class MethodRecord:
    """The method a results file measured, as the run built it."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    cls: str | None = None
    config_file: str | None = None
    requires: tuple[str, ...] = ()
    uses_prompt: bool = True
    role: str = "method"

    @property
    def reads_real_video(self) -> bool:
        """True when the method was given the real clip (a reference row, never a generator)."""
        return "video" in self.requires

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": self.cls,
            "options": self.options,
            "config_file": self.config_file,
            "requires": list(self.requires),
            "uses_prompt": self.uses_prompt,
            "role": self.role,
        }


@dataclass(frozen=True)
class DatasetRecord:
    """The dataset split a run read: id as given, split, content fingerprint, Hub revision."""

    id: str
    split: str
    fingerprint: str
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "split": self.split, "fingerprint": self.fingerprint, "revision": self.revision}


@dataclass(frozen=True)
class Failure:
    clip_id: str
    reason: str


@dataclass(frozen=True)
class Results:
    """One evaluation run's results. ``path`` is where it was read from (not serialised)."""

    method: MethodRecord
    dataset: DatasetRecord
    protocol: Protocol
    metrics: dict[str, MetricSummary]
    num_clips: int
    clips: tuple[str, ...]
    failures: tuple[Failure, ...] = ()
    diagnostics: dict[str, MetricSummary] = field(default_factory=dict)
    videos_dir: str = "videos"
    seed: int | None = 0
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    path: Path | None = None

    def video_path(self, clip_id: str) -> Path:
        """Where the runner wrote the video of ``clip_id`` (inside the results file's folder)."""
        folder = self.path.parent if self.path is not None else Path(".")
        return folder / self.videos_dir / f"{clip_id}.mp4"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "method": self.method.to_dict(),
            "dataset": self.dataset.to_dict(),
            "protocol": self.protocol.to_dict(),
            "metrics": {key: self.metrics[key].to_dict() for key in METRICS if key in self.metrics},
            "diagnostics": {key: value.to_dict() for key, value in sorted(self.diagnostics.items())},
            "num_clips": self.num_clips,
            "clips": list(self.clips),
            "failures": [{"clip_id": f.clip_id, "reason": f.reason} for f in self.failures],
            "videos_dir": self.videos_dir,
            "seed": self.seed,
            "versions": dict(self.versions),
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike = "<results>") -> Results:
        """Validate a decoded results object; ``source`` names it in errors and anchors ``videos_dir``.

        Raises:
            ResultsError: a missing field, wrong type or inconsistent value, naming the dotted field.
        """
        return _parse(data, Path(source))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Results:
        """Read and validate one results file; a directory means its ``results.json``.

        Raises:
            ResultsError: the file is missing, not JSON, or fails validation (field named).
        """
        path = Path(path)
        if path.is_dir():
            path = path / RESULTS_FILE
        if not path.is_file():
            raise ResultsError(f"results file {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultsError(f"{path}: not valid JSON ({exc})") from exc
        return _parse(data, path)


def is_clip_id(value: Any) -> bool:
    """A clip id names a file: a non-empty string without ``/``, NUL, or a leading ``.``, at most 200 characters."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 200
        and "/" not in value
        and "\x00" not in value
        and "\\" not in value
        and not value.startswith(".")
    )


# ---- validation ------------------------------------------------------------------------------


class _Fields:
    """Typed access to a JSON object that reports the dotted field name on every error."""

    def __init__(self, source: Path, data: Any, prefix: str = ""):
        self.source, self.prefix = source, prefix
        if not isinstance(data, dict):
            raise self.error(prefix.rstrip(".") or "<top level>", data, "must be an object")
        self.data = data

    def error(self, name: str, value: Any, problem: str) -> ResultsError:
        return ResultsError(f"{self.source}: field {name!r} {problem}, got {value!r}")

    def get(self, key: str, optional: bool = False) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise ResultsError(f"{self.source}: missing field {self.prefix + key!r}")
        return self.data[key]

    def obj(self, key: str, optional: bool = False) -> _Fields | None:
        value = self.get(key, optional)
        return None if value is None and optional else _Fields(self.source, value, f"{self.prefix}{key}.")

    def string(self, key: str, optional: bool = False) -> str | None:
        value = self.get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(self.prefix + key, value, "must be a non-empty string")
        return value

    def integer(self, key: str, minimum: int = 0, optional: bool = False) -> int | None:
        value = self.get(key, optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(self.prefix + key, value, f"must be an integer >= {minimum}")
        return value

    def number(self, key: str) -> float:
        return self.finite(self.prefix + key, self.get(key))

    def finite(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(name, value, "must be a finite number")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, optional=True)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(self.prefix + key, value, "must be true or false")
        return value

    def array(self, key: str) -> list:
        value = self.get(key)
        if not isinstance(value, list):
            raise self.error(self.prefix + key, value, "must be a list")
        return value

    def mapping(self, key: str, optional: bool = False) -> dict:
        value = self.get(key, optional)
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            raise self.error(self.prefix + key, value, "must be an object")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.get(key, optional=default is not None)
        value = default if value is None else value
        if value not in choices:
            raise self.error(self.prefix + key, value, f"must be one of {list(choices)}")
        return value


def _clip_protocol(fields: _Fields | None) -> ClipProtocol | None:
    if fields is None:
        return None
    activation = fields.get("activation", optional=True) or ""
    return ClipProtocol(
        fields.string("model"),
        fields.string("pretrained"),
        fields.integer("context_length", 1),
        fields.string("dtype", optional=True) or "float32",
        str(activation),
    )


def _motion_protocol(fields: _Fields | None) -> MotionProtocol | None:
    if fields is None:
        return None
    tracker = fields.choice("tracker", TRACKERS)
    eval_size = fields.array("eval_size")
    if len(eval_size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in eval_size):
        raise fields.error(fields.prefix + "eval_size", eval_size, "must be [height, width] of positive integers")
    variants = fields.array("variants")
    if not variants or any(v not in MOTION_VARIANTS for v in variants) or len(set(variants)) != len(variants):
        raise fields.error(fields.prefix + "variants", variants, f"must be distinct values of {list(MOTION_VARIANTS)}")
    return MotionProtocol(
        tracker,
        fields.mapping("tracker_config"),
        fields.integer("grid_size", 1),
        (eval_size[0], eval_size[1]),
        tuple(variants),
        fields.choice("reference", REFERENCES),
        fields.boolean("drop_lost", True),
        fields.boolean("foreground", False),
    )


def _summary(fields: _Fields, num_clips: int) -> MetricSummary:
    raw = fields.get("ci95")
    name = fields.prefix + "ci95"
    ci = None
    if raw is not None:
        if not isinstance(raw, list) or len(raw) != 2:
            raise fields.error(name, raw, "must be [low, high] or null")
        low, high = (fields.finite(name, v) for v in raw)
        if low > high:
            raise fields.error(name, raw, "must have low <= high")
        ci = (low, high)
    n = fields.integer("n", 1)
    if n > num_clips:
        raise fields.error(fields.prefix + "n", n, f"cannot exceed num_clips ({num_clips})")
    n_sources = fields.integer("n_sources", 1)
    if n_sources > n:
        raise fields.error(fields.prefix + "n_sources", n_sources, f"cannot exceed n ({n})")
    return MetricSummary(fields.number("mean"), ci, n, n_sources)


def _metrics(fields: _Fields, protocol: Protocol, num_clips: int) -> dict[str, MetricSummary]:
    for key in fields.data:
        if key not in METRICS:
            raise fields.error(f"metrics.{key}", key, f"is not a known metric {list(METRICS)}")
    metrics = {}
    for key, spec in METRICS.items():
        sub = fields.obj(key, optional=True)
        if sub is None:
            continue
        if spec.group in ("clip", "identity", "pose") and getattr(protocol, spec.group) is None:
            raise fields.error(f"protocol.{spec.group}", None, f"must describe the model when metrics.{key} is present")
        if spec.group == "motion":
            variant = key.rsplit("_", 1)[1]
            if protocol.motion is None or variant not in protocol.motion.variants:
                got = None if protocol.motion is None else list(protocol.motion.variants)
                raise fields.error(
                    "protocol.motion.variants", got, f"must include {variant!r} when metrics.{key} is present"
                )
        metrics[key] = _summary(sub, num_clips)
    return metrics


def _videos_dir(top: _Fields) -> str:
    value = top.string("videos_dir")
    parts = PurePosixPath(value).parts
    if PurePosixPath(value).is_absolute() or Path(value).is_absolute() or ".." in parts or "\\" in value:
        raise top.error("videos_dir", value, "must be a folder inside the results file's folder (relative, no '..')")
    return value


def _parse(data: Any, path: Path) -> Results:
    top = _Fields(path, data)
    version = top.get("schema_version")
    if version != SCHEMA_VERSION:
        hint = (
            "; it was written by an older amg-bench: re-run `amg-bench evaluate` into a new --out"
            if version == 1
            else ""
        )
        raise top.error("schema_version", version, f"must be {SCHEMA_VERSION}{hint}")
    method = top.obj("method")
    requires = method.array("requires")
    if any(not isinstance(r, str) for r in requires):
        raise method.error("method.requires", requires, "must be a list of request input names")
    dataset = top.obj("dataset")
    proto = top.obj("protocol")
    protocol = Protocol(
        name=proto.choice("name", PROTOCOLS),
        clip=_clip_protocol(proto.obj("clip", optional=True)),
        motion=_motion_protocol(proto.obj("motion", optional=True)),
        num_frames=proto.integer("num_frames", 1),
        fps=proto.number("fps"),
        video_encoding=proto.mapping("video_encoding", optional=True),
        interval=proto.mapping("interval", optional=True),
        identity=proto.mapping("identity", optional=True) or None,
        pose=proto.mapping("pose", optional=True) or None,
        reference=proto.choice("reference", REFERENCES, default="real"),
    )
    if protocol.fps <= 0:
        raise top.error("protocol.fps", protocol.fps, "must be positive")
    if protocol.motion is not None and protocol.motion.reference != protocol.reference:
        raise top.error(
            "protocol.motion.reference",
            protocol.motion.reference,
            f"must equal protocol.reference ({protocol.reference!r})",
        )
    num_clips = top.integer("num_clips", 1)
    clips = top.array("clips")
    if not all(is_clip_id(c) for c in clips):
        bad = next(c for c in clips if not is_clip_id(c))
        raise top.error("clips", bad, "must be clip ids (non-empty strings without '/', NUL or a leading '.')")
    if len(set(clips)) != len(clips) or len(clips) != num_clips:
        found = f"{len(clips)} ids ({len(set(clips))} distinct)"
        raise top.error("clips", found, f"must list num_clips={num_clips} distinct ids")
    failures = []
    for i, failure in enumerate(top.array("failures")):
        item = _Fields(path, failure, f"failures[{i}].")
        failures.append(Failure(item.string("clip_id"), item.string("reason")))
    seed = top.get("seed", optional=True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise top.error("seed", seed, "must be an integer or null")
    diagnostics_fields = top.obj("diagnostics", optional=True)
    diagnostics = {}
    if diagnostics_fields is not None:
        for key in sorted(diagnostics_fields.data):
            diagnostics[key] = _summary(diagnostics_fields.obj(key), num_clips)
    return Results(
        method=MethodRecord(
            name=method.string("name"),
            options=method.mapping("options"),
            cls=method.string("class", optional=True),
            config_file=method.string("config_file", optional=True),
            requires=tuple(requires),
            uses_prompt=method.boolean("uses_prompt", True),
            role=method.choice("role", ROLES, default="method"),
        ),
        dataset=DatasetRecord(
            dataset.string("id"),
            dataset.string("split"),
            dataset.string("fingerprint"),
            dataset.string("revision", optional=True),
        ),
        protocol=protocol,
        metrics=_metrics(top.obj("metrics"), protocol, num_clips),
        num_clips=num_clips,
        clips=tuple(clips),
        failures=tuple(failures),
        diagnostics=diagnostics,
        videos_dir=_videos_dir(top),
        seed=seed,
        versions={str(k): str(v) for k, v in top.mapping("versions").items()},
        created=top.string("created"),
        path=path,
    )
