"""Per-clip scoring for the runner: the metrics of :mod:`amg_bench.metrics` wired to the content cache.

The metrics themselves are computed by their own classes (:class:`~amg_bench.metrics.clip_score.CLIPScorer`,
:class:`~amg_bench.metrics.motion_fidelity.MotionFidelity`); this module only puts the
work that does not depend on the method behind caching wrappers (caption embeddings, reference
tracks, person regions), times the stages, and describes the settings for results.

A clip's record holds, per metric group:
- ``clip``: ``clip_score`` and ``caption_truncated``;
- ``motion``: ``motion_fidelity_<variant>``, ``motion_points_scored``, ``motion_points_dropped``
  (query points lost in the reference), and with ``foreground`` the same scores restricted to
  the query points inside the people's frame-0 masks (``motion_fidelity_foreground_<variant>``,
  ``motion_foreground_points``; ``None`` when no kept point lies on a person).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import MetricError
from ..metrics.clip_score import DEFAULT_MODEL, DEFAULT_PRETRAINED
from ..metrics.motion_fidelity import DEFAULT_EVAL_SIZE, check_eval_size
from ..metrics.tracking import DEFAULT_GRID_SIZE
from ..results import METRIC_GROUPS, MOTION_VARIANTS, motion_key


@dataclass(frozen=True)
class ScoringSettings:
    """What is scored and how (everything here is part of the results' protocol).

    The defaults are the ``full`` protocol (:mod:`amg_bench.evaluation.protocols`).

    Attributes:
        metrics: any of ``"clip"``, ``"motion"``.
        tracker, tracker_options: the point tracker (``klt`` / ``cotracker``) and its options.
        motion_variants: motion-fidelity variants, all computed from the same tracks.
        grid_size, eval_size: tracking grid per side, and the ``(height, width)`` both videos are
            tracked at.
        drop_lost: drop the query points the tracker lost in the reference.
        foreground: also score the query points inside the people's frame-0 masks.
        clip_model, clip_pretrained, clip_dtype, clip_activation, clip_batch_size: the open_clip
            model, its weights, precision, MLP activation (``auto``/``quick_gelu``/``gelu``) and
            frames per forward. A model named with an ``hf-hub:`` / ``local-dir:`` schema carries
            its own weights, so ``clip_pretrained`` is then ``None``.
    """

    metrics: tuple[str, ...] = METRIC_GROUPS
    tracker: str = "cotracker"
    tracker_options: dict[str, Any] = field(default_factory=dict)
    motion_variants: tuple[str, ...] = MOTION_VARIANTS
    grid_size: int = DEFAULT_GRID_SIZE
    eval_size: tuple[int, int] = DEFAULT_EVAL_SIZE
    drop_lost: bool = True
    foreground: bool = True
    clip_model: str = DEFAULT_MODEL
    clip_pretrained: str | None = DEFAULT_PRETRAINED
    clip_dtype: str = "float32"
    clip_activation: str = "auto"
    clip_batch_size: int = 16

    def __post_init__(self) -> None:
        if self.clip_model.partition(":")[0] in ("hf-hub", "local-dir"):
            object.__setattr__(self, "clip_pretrained", None)
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "motion_variants", tuple(self.motion_variants))
        object.__setattr__(self, "tracker_options", dict(self.tracker_options))
        unknown = [m for m in self.metrics if m not in METRIC_GROUPS]
        if unknown or not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise MetricError(f"metrics must be distinct values of {list(METRIC_GROUPS)}, got {list(self.metrics)}")
        bad = [v for v in self.motion_variants if v not in MOTION_VARIANTS]
        if bad or not self.motion_variants or len(set(self.motion_variants)) != len(self.motion_variants):
            raise MetricError(
                f"motion variants must be distinct values of {list(MOTION_VARIANTS)}, got {list(self.motion_variants)}"
            )
        eval_size = check_eval_size(self.eval_size)
        if eval_size is None:
            raise MetricError("eval_size must be (height, width): both videos are tracked at one size")
        object.__setattr__(self, "eval_size", eval_size)

    def metric_keys(self) -> list[str]:
        """The per-clip metric keys these settings produce (also the keys of ``results['metrics']``)."""
        keys = ["clip_score"] if "clip" in self.metrics else []
        if "motion" in self.metrics:
            keys += [motion_key(v) for v in self.motion_variants]
            if self.foreground:
                keys += [motion_key(f"foreground_{v}") for v in self.motion_variants]
        return keys

    def diagnostic_keys(self) -> list[str]:
        """Per-clip counts summarised beside the metrics (never ranked)."""
        if "motion" not in self.metrics:
            return []
        return ["motion_points_scored", "motion_points_dropped"] + (
            ["motion_foreground_points"] if self.foreground else []
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


class Stopwatch:
    """Seconds spent per stage, summed over calls: ``with watch("track"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def __call__(self, stage: str) -> _Lap:
        return _Lap(self, stage)


class _Lap:
    def __init__(self, watch: Stopwatch, stage: str) -> None:
        self.watch, self.stage = watch, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_) -> None:
        self.watch.seconds[self.stage] += time.perf_counter() - self.start


class CachingTextEncoder:
    """``CLIPScorer.text_embedding`` kept in the content cache, keyed by the caption and the CLIP settings."""

    def __init__(self, scorer, cache_root=None) -> None:
        from ..cache import SAFETENSORS, ContentCache

        self.scorer = scorer
        config = scorer.config()
        settings = {k: config[k] for k in ("model", "pretrained", "activation", "context_length", "dtype", "open_clip")}
        settings["weights"] = _weights_stat(scorer)
        self.cache = ContentCache("caption_embeddings", settings, SAFETENSORS, cache_root)

    def __call__(self, caption: str):
        from ..cache import content_digest

        def compute():
            embedding, truncated = self.scorer.text_embedding(caption)
            return {"embedding": embedding}, {"truncated": str(bool(truncated)).lower()}

        tensors, metadata = self.cache.get_or_compute(content_digest(caption), compute)
        return tensors["embedding"].float(), metadata.get("truncated") == "true"


def _weights_stat(scorer) -> list:
    """Local weights files by name, size and modification time (a changed file gets new keys)."""
    from pathlib import Path

    stats = []
    for candidate in (scorer.pretrained, scorer.model_name.partition("local-dir:")[2]):
        path = Path(candidate) if candidate else None
        if path is not None and path.exists():
            files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
            stats += [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return stats


class MetricSuite:
    """Scores one generated clip against its reference clip and caption.

    Models load in the constructor, so missing weights fail before any clip is generated.

    Args:
        settings: what to score.
        device: torch device for CLIP (and CoTracker, unless its options name one).
        body: the body model that re-renders person masks (needed for ``foreground``).
        cache_root: root of the content cache (default :func:`amg_bench.cache.cache_root`).
        watch: where stage times go (``track``, ``clip``, ``clip_text``, ``regions``).

    Raises:
        MetricError, TrackerError, MissingWeightsError, BodyModelError: a metric cannot be built.
    """

    def __init__(
        self, settings: ScoringSettings, device: str = "cpu", body=None, cache_root=None, watch: Stopwatch | None = None
    ) -> None:
        self.settings = settings
        self.watch = watch or Stopwatch()
        self.clip = self.text = self.fidelity = self.reference_tracker = self.regions = None
        if "clip" in settings.metrics:
            from ..metrics.clip_score import CLIPScorer

            self.clip = CLIPScorer(
                settings.clip_model,
                settings.clip_pretrained,
                device=device,
                dtype=settings.clip_dtype,
                batch_size=settings.clip_batch_size,
                activation=settings.clip_activation,
            )
            self.text = CachingTextEncoder(self.clip, cache_root)
        if "motion" in settings.metrics:
            from ..metrics.motion_fidelity import MotionFidelity
            from ..metrics.tracking import CachingTracker

            options = dict(settings.tracker_options)
            if settings.tracker == "cotracker":
                options.setdefault("device", device)
            self.fidelity = MotionFidelity(
                settings.tracker,
                grid_size=settings.grid_size,
                eval_size=settings.eval_size,
                variants=settings.motion_variants,
                drop_lost=settings.drop_lost,
                **options,
            )
            self.reference_tracker = CachingTracker(self.fidelity.tracker, cache_root)
            if settings.foreground:
                from ..data.body_model import load_body_model
                from ..data.person_regions import PersonRegionSource

                self.regions = PersonRegionSource(
                    body if body is not None else load_body_model("mannequin"), cache_root
                )

    def score(self, generated: np.ndarray, reference: np.ndarray, row: dict[str, Any]) -> dict[str, Any]:
        """The clip's metric values and counts.

        Args:
            generated: the generated clip, uint8 ``(T, H, W, 3)``, as decoded from its stored mp4.
            reference: the reference clip (the real clip), uint8 ``(T, H, W, 3)``.
            row: the dataset row (``scene_caption``; ``smpl``/``camera`` for the foreground column).

        Raises:
            MetricError, TrackerError, VideoError, DatasetError: the clip cannot be scored.
        """
        values: dict[str, Any] = {}
        if self.clip is not None:
            caption = row.get("scene_caption") or ""
            if not caption.strip():
                raise MetricError("the clip has an empty scene caption; CLIP score needs one")
            with self.watch("clip_text"):
                text = self.text(caption)
            with self.watch("clip"):
                result = self.clip.score(generated, caption, text=text)
            values["clip_score"] = result.score
            values["caption_truncated"] = bool(result.truncated)
        if self.fidelity is not None:
            values.update(self._motion(generated, reference, row))
        return values

    def _motion(self, generated: np.ndarray, reference: np.ndarray, row: dict[str, Any]) -> dict[str, Any]:
        fidelity = self.fidelity
        if len(generated) != len(reference):
            raise MetricError(f"generated video has {len(generated)} frames but the reference has {len(reference)}")
        with self.watch("track"):
            reference_tracks = fidelity.tracks(reference, tracker=self.reference_tracker)
            generated_tracks = fidelity.tracks(generated)
        whole = fidelity.score_tracks(generated_tracks, reference_tracks)
        if whole is None:
            raise MetricError(f"the tracker lost all {fidelity.grid_size**2} query points in the reference video")
        values: dict[str, Any] = {motion_key(v): s for v, s in whole.scores.items()}
        values["motion_points_scored"] = whole.points
        values["motion_points_dropped"] = whole.dropped
        if self.regions is not None:
            with self.watch("regions"):
                masks = self.regions.regions(row, *fidelity.eval_size)
            points = reference_tracks.positions[0]
            cols = np.clip(np.rint(points[:, 0]).astype(int), 0, fidelity.eval_size[1] - 1)
            rows = np.clip(np.rint(points[:, 1]).astype(int), 0, fidelity.eval_size[0] - 1)
            on_people = masks.union(0)[rows, cols]
            part = fidelity.score_tracks(generated_tracks, reference_tracks, subset=on_people)
            for v in fidelity.variants:
                values[motion_key(f"foreground_{v}")] = None if part is None else part.scores[v]
            values["motion_foreground_points"] = 0 if part is None else part.points
        return values

    def protocol(self, reference: str = "real") -> dict[str, Any]:
        """The ``clip`` and ``motion`` entries of ``results['protocol']`` (``None`` when not scored)."""
        clip = motion = None
        if self.clip is not None:
            config = self.clip.config()
            clip = {
                "model": self.clip.model_name,
                "pretrained": self.clip.pretrained or self.clip.model_name.partition(":")[0],
                "context_length": int(config["context_length"]),
                "dtype": self.clip.dtype,
                "activation": config["activation"],
            }
        if self.fidelity is not None:
            motion = {
                "tracker": self.fidelity.tracker.name,
                "tracker_config": self.fidelity.tracker.config(),
                "grid_size": self.fidelity.grid_size,
                "eval_size": list(self.fidelity.eval_size),
                "variants": list(self.fidelity.variants),
                "reference": reference,
                "drop_lost": self.settings.drop_lost,
                "foreground": self.regions is not None,
            }
        return {"clip": clip, "motion": motion}

    def cache_stats(self) -> dict[str, dict[str, int]]:
        """Hits and misses of each cache this suite uses."""
        stats = {}
        if self.text is not None:
            stats["caption_embeddings"] = self.text.cache.stats()
        if self.reference_tracker is not None:
            stats["reference_tracks"] = self.reference_tracker.cache.stats()
        if self.regions is not None:
            stats["person_regions"] = self.regions.cache.stats()
        return stats


@dataclass(frozen=True)
class PairScore:
    """The scores of one generated video file against a reference file, with the settings used."""

    reference: str
    generated: str
    prompt: str
    values: dict[str, Any]
    protocol: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        """A few readable lines: CLIP score, then each motion-fidelity variant with its points."""
        lines = [f"reference: {self.reference}", f"generated: {self.generated}"]
        clip, motion = self.protocol.get("clip"), self.protocol.get("motion")
        if clip is not None:
            truncated = "yes" if self.values["caption_truncated"] else "no"
            lines.append(
                f"clip score: {self.values['clip_score']:.2f} ({clip['model']}, weights {clip['pretrained']}, "
                f"{clip['activation']}; caption truncated to {clip['context_length']} tokens: {truncated})"
            )
        if motion is not None:
            approximation = (
                " - offline approximation, not comparable with cotracker" if motion["tracker"] == "klt" else ""
            )
            grid = (
                f"{motion['grid_size']}x{motion['grid_size']} grid at {motion['eval_size'][0]}x{motion['eval_size'][1]}"
            )
            lines.append(
                f"motion fidelity (tracker {motion['tracker']}{approximation}; {grid}; "
                f"{self.values['motion_points_scored']} points scored, "
                f"{self.values['motion_points_dropped']} dropped as lost in the reference):"
            )
            lines += [f"  {v}: {self.values[motion_key(v)]:.2f}" for v in motion["variants"]]
        return "\n".join(lines)


def score_pair(
    reference: str, generated: str, prompt: str, settings: ScoringSettings, device: str = "cpu", cache_root=None
) -> PairScore:
    """Score one generated video file against a reference file (CLIP against ``prompt``).

    Person masks need a dataset row, so the foreground column is not scored here.

    Raises:
        VideoError: a video is missing or unreadable.
        MetricError: inconsistent videos or options, or an empty prompt when CLIP is scored.
        MissingWeightsError, TrackerError: a model cannot be loaded.
    """
    from dataclasses import replace

    from ..video import read_video

    reference_video, generated_video = read_video(reference), read_video(generated)
    suite = MetricSuite(replace(settings, foreground=False), device, cache_root=cache_root)
    values = suite.score(generated_video, reference_video, {"scene_caption": prompt})
    return PairScore(str(reference), str(generated), prompt, values, suite.protocol())
