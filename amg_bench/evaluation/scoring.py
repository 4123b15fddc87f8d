"""Per-clip scoring for the runner: CLIP score and motion fidelity, with the on-disk caches.

The metrics are the ones in :mod:`amg_bench.metrics`; this module only wires them to the
caches (reference tracks, caption embeddings), times them, and describes them for results.
A clip's record holds ``clip_score`` and ``caption_truncated`` (metric ``clip``) and
``motion_fidelity_<variant>`` (metric ``motion``; the reference is the real clip).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MetricError
from ..metrics.clip_score import DEFAULT_MODEL, DEFAULT_PRETRAINED
from ..metrics.functional.motion_fidelity import VARIANTS
from ..metrics.motion_fidelity import DEFAULT_EVAL_SIZE
from ..metrics.tracking import DEFAULT_GRID_SIZE
from .cache import CaptionEmbeddingCache, ReferenceTrackCache

METRICS = ("clip", "motion")


@dataclass(frozen=True)
class ScoringSettings:
    """What is scored and how (everything here is part of the results' protocol).

    Attributes:
        metrics: any of ``"clip"``, ``"motion"``.
        tracker, tracker_options: the point tracker (``klt`` / ``cotracker``) and its options.
        motion_variants: motion-fidelity variants, all computed from the same tracks.
        grid_size, eval_size: tracking grid per side, and the ``(height, width)`` both videos are
            tracked at.
        clip_model, clip_pretrained, clip_dtype, clip_batch_size: the open_clip model, its weights,
            its precision (``float32``, ``float16``, ``bfloat16``), frames per forward.
            A model named with an ``hf-hub:`` / ``local-dir:`` schema carries its own weights, so
            ``clip_pretrained`` is then set to ``None``.
    """

    metrics: tuple[str, ...] = METRICS
    tracker: str = "klt"
    tracker_options: dict[str, Any] = field(default_factory=dict)
    motion_variants: tuple[str, ...] = VARIANTS
    grid_size: int = DEFAULT_GRID_SIZE
    eval_size: tuple[int, int] = DEFAULT_EVAL_SIZE
    clip_model: str = DEFAULT_MODEL
    clip_pretrained: str | None = DEFAULT_PRETRAINED
    clip_dtype: str = "float32"
    clip_batch_size: int = 16

    def __post_init__(self) -> None:
        if self.clip_model.partition(":")[0] in ("hf-hub", "local-dir"):
            object.__setattr__(self, "clip_pretrained", None)
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "motion_variants", tuple(self.motion_variants))
        object.__setattr__(self, "eval_size", tuple(self.eval_size))
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise MetricError(f"metrics must be distinct values of {list(METRICS)}, got {list(self.metrics)}")
        bad = [v for v in self.motion_variants if v not in VARIANTS]
        if bad or not self.motion_variants:
            raise MetricError(f"motion variants must be values of {list(VARIANTS)}, got {list(self.motion_variants)}")
        if len(self.eval_size) != 2 or not all(isinstance(s, int) and s > 0 for s in self.eval_size):
            raise MetricError(f"eval_size must be (height, width) positive integers, got {self.eval_size!r}")

    def metric_keys(self) -> list[str]:
        """The per-clip metric keys these settings produce (also the keys of ``results['metrics']``)."""
        keys = ["clip_score"] if "clip" in self.metrics else []
        if "motion" in self.metrics:
            keys += [f"motion_fidelity_{v}" for v in self.motion_variants]
        return keys

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


class ClipScorer:
    """Scores one generated clip against its real clip and caption.

    Models load in the constructor, so missing weights fail before any clip is generated.

    Args:
        settings: what to score.
        cache_dir: root of the reference-track and caption-embedding caches.
        device: torch device for CLIP (and CoTracker, unless its options name one).
        watch: where stage times go (``track``, ``clip``, ``clip_text``).

    Raises:
        MetricError, TrackerError, MissingWeightsError: a metric cannot be built.
    """

    def __init__(
        self,
        settings: ScoringSettings,
        cache_dir: str | os.PathLike,
        device: str = "cpu",
        watch: Stopwatch | None = None,
    ) -> None:
        self.settings = settings
        self.watch = watch or Stopwatch()
        self.clip = self.fidelity = self.text_cache = self.track_cache = None
        if "clip" in settings.metrics:
            from ..metrics.clip_score import CLIPScorer

            self.clip = CLIPScorer(
                settings.clip_model,
                settings.clip_pretrained,
                device=device,
                dtype=settings.clip_dtype,
                batch_size=settings.clip_batch_size,
            )
            self.text_cache = CaptionEmbeddingCache(cache_dir, self._clip_cache_settings(), self._encode_caption)
        if "motion" in settings.metrics:
            from ..metrics.motion_fidelity import MotionFidelity

            options = dict(settings.tracker_options)
            if settings.tracker == "cotracker":
                options.setdefault("device", device)
            self.fidelity = MotionFidelity(
                settings.tracker,
                grid_size=settings.grid_size,
                eval_size=tuple(settings.eval_size),
                variants=settings.motion_variants,
                **options,
            )
            track_settings = {k: v for k, v in self.fidelity.config().items() if k != "variants"}
            self.track_cache = ReferenceTrackCache(cache_dir, track_settings, self._tracks)

    def _clip_cache_settings(self) -> dict[str, Any]:
        config = self.clip.config()
        settings = {
            k: config.get(k) for k in ("model", "pretrained", "quick_gelu", "context_length", "dtype", "open_clip")
        }
        for candidate in (self.clip.pretrained, self.clip.model_name.partition("local-dir:")[2]):
            path = Path(candidate) if candidate else None
            if path is not None and path.exists():  # local weights: a changed file gets new keys
                files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
                settings["weights_stat"] = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
        return settings

    def _encode_caption(self, caption: str):
        with self.watch("clip_text"):
            return self.clip.text_embedding(caption)

    def _tracks(self, frames: np.ndarray) -> np.ndarray:
        with self.watch("track"):
            return self.fidelity.tracks(frames)

    def score(
        self, generated: np.ndarray, caption: str, reference_bytes: bytes, reference_frames: Callable[[], np.ndarray]
    ) -> dict[str, Any]:
        """The clip's metric values.

        Args:
            generated: the generated clip, uint8 ``(T, H, W, 3)`` (as decoded from its mp4).
            caption: the scene caption.
            reference_bytes: the real clip's mp4 bytes (the track-cache key).
            reference_frames: decodes the real clip (called only on a track-cache miss).

        Raises:
            MetricError, TrackerError, VideoError: the clip cannot be scored.
        """
        values: dict[str, Any] = {}
        if self.clip is not None:
            from ..metrics.functional.clip_score import clip_score_from_embeddings

            if not caption.strip():
                raise MetricError("the clip has an empty scene caption; CLIP score needs one")
            text, truncated = self.text_cache.embedding(caption)
            with self.watch("clip"):
                per_frame = clip_score_from_embeddings(self.clip.image_embeddings(generated), text)
            values["clip_score"] = float(per_frame.mean())
            values["caption_truncated"] = bool(truncated)
        if self.fidelity is not None:
            reference = self.track_cache.tracks(reference_bytes, reference_frames)
            generated_tracks = self._tracks(generated)
            for variant, value in self.fidelity.score_tracks(generated_tracks, reference).items():
                values[f"motion_fidelity_{variant}"] = float(value)
        return values

    def protocol(self) -> dict[str, Any]:
        """The ``clip`` and ``motion`` entries of ``results['protocol']`` (``None`` when not scored)."""
        clip = motion = None
        if self.clip is not None:
            config = self.clip.config()
            clip = {
                "model": self.clip.model_name,
                "pretrained": self.clip.pretrained or self.clip.model_name.partition(":")[0],
                "context_length": int(config["context_length"]),
                "dtype": self.clip.dtype,
                "quick_gelu": config["quick_gelu"],
            }
        if self.fidelity is not None:
            motion = {
                "tracker": self.fidelity.tracker.name,
                "tracker_config": self.fidelity.tracker.config(),
                "grid_size": self.fidelity.grid_size,
                "eval_size": list(self.fidelity.eval_size),
                "variants": list(self.fidelity.variants),
                "reference": "real",
            }
        return {"clip": clip, "motion": motion}
