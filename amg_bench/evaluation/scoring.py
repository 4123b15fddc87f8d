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
  ``motion_foreground_points``; ``None`` when no kept point lies on a person);
- ``identity``: ``identity_consistency``, ``identity_swap_rate`` (``None`` with fewer than two
  people) and ``identity_crops``, on masked person crops of the generated video;
- ``pose``: ``pose_pck``, ``pose_akd``, ``pose_mkr`` and ``pose_targets``, keypoints of the
  generated frames against those of the real frames in the same person boxes.

Person masks and boxes all come from re-rendering each row's people (the one source of person
regions, :mod:`amg_bench.data.person_regions`); a person visible on fewer than
``person_min_area`` of the frame's pixels in a frame is skipped there (occlusion, edges).

The reference is the real clip, or, for a ``controls`` split (``reference="condition"``: no real
video), the condition render: motion is tracked in it, and the pose targets are the row's
joints projected into each frame (the 12 limb joints COCO and SMPL share,
:func:`~amg_bench.data.person_regions.projected_keypoints`) instead of keypoints detected on real frames.
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
from ..metrics.person_models import DEFAULT_IDENTITY_MODEL, DEFAULT_POSE_MODEL
from ..metrics.tracking import DEFAULT_GRID_SIZE
from ..results import DEFAULT_METRIC_GROUPS, METRIC_GROUPS, MOTION_VARIANTS, REFERENCES, motion_key

#: Key of the per-clip arrays (boxes, real and generated keypoints) the runner stores beside the record.
PEOPLE_ARRAYS = "_people_arrays"


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
        identity_model, pose_model: DINOv2 and VitPose checkpoints (folder or Hub id).
        person_min_area: share of the frame a person must show to be embedded / have keypoints.
        pose_threshold, pose_alpha: keypoint confidence that counts as detected; PCK tolerance.
    """

    metrics: tuple[str, ...] = DEFAULT_METRIC_GROUPS
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
    identity_model: str = DEFAULT_IDENTITY_MODEL
    pose_model: str = DEFAULT_POSE_MODEL
    person_min_area: float = 0.002
    pose_threshold: float = 0.3
    pose_alpha: float = 0.1

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
        for name in ("person_min_area", "pose_threshold", "pose_alpha"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise MetricError(f"{name} must be between 0 and 1, got {value!r}")

    def metric_keys(self) -> list[str]:
        """The per-clip metric keys these settings produce (also the keys of ``results['metrics']``)."""
        keys = ["clip_score"] if "clip" in self.metrics else []
        if "motion" in self.metrics:
            keys += [motion_key(v) for v in self.motion_variants]
            if self.foreground:
                keys += [motion_key(f"foreground_{v}") for v in self.motion_variants]
        if "identity" in self.metrics:
            keys += ["identity_consistency", "identity_swap_rate"]
        if "pose" in self.metrics:
            keys += ["pose_pck", "pose_akd", "pose_mkr"]
        return keys

    def diagnostic_keys(self) -> list[str]:
        """Per-clip counts summarised beside the metrics (never ranked)."""
        keys = []
        if "motion" in self.metrics:
            keys += ["motion_points_scored", "motion_points_dropped"]
            keys += ["motion_foreground_points"] if self.foreground else []
        keys += ["identity_crops"] if "identity" in self.metrics else []
        keys += ["pose_targets"] if "pose" in self.metrics else []
        return keys

    @property
    def needs_regions(self) -> bool:
        """Whether scoring renders the people's masks (and so needs the body model)."""
        return ("motion" in self.metrics and self.foreground) or bool({"identity", "pose"} & set(self.metrics))

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
        reference: ``"real"`` (the reference clip is the real one) or ``"condition"`` (a
            ``controls`` row's condition render; pose targets are the row's projected joints).

    Raises:
        MetricError, TrackerError, MissingWeightsError, BodyModelError: a metric cannot be built.
    """

    def __init__(
        self,
        settings: ScoringSettings,
        device: str = "cpu",
        body=None,
        cache_root=None,
        watch: Stopwatch | None = None,
        reference: str = "real",
    ) -> None:
        if reference not in REFERENCES:
            raise MetricError(f"reference must be one of {list(REFERENCES)}, got {reference!r}")
        self.reference = reference
        self.settings = settings
        self.watch = watch or Stopwatch()
        self.clip = self.text = self.fidelity = self.reference_tracker = self.regions = None
        self.embedder = self.pose = self.reference_pose = None
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
        if "identity" in settings.metrics:
            from ..metrics.person_models import IdentityEmbedder

            self.embedder = IdentityEmbedder(settings.identity_model, device)
        if "pose" in settings.metrics:
            from ..metrics.person_models import CachingPoseEstimator, PoseEstimator

            self.pose = PoseEstimator(settings.pose_model, device)
            self.reference_pose = CachingPoseEstimator(self.pose, cache_root)
        if settings.needs_regions:
            from ..data.body_model import load_body_model
            from ..data.person_regions import PersonRegionSource

            self.regions = PersonRegionSource(body if body is not None else load_body_model("mannequin"), cache_root)

    def score(self, generated: np.ndarray, reference: np.ndarray, row: dict[str, Any]) -> dict[str, Any]:
        """The clip's metric values and counts.

        Args:
            generated: the generated clip, uint8 ``(T, H, W, 3)``, as decoded from its stored mp4.
            reference: the reference clip (the real clip, or a controls row's condition), uint8 ``(T, H, W, 3)``.
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
        if self.embedder is not None or self.pose is not None:
            values.update(self._people(generated, reference, row))
        return values

    def _people(self, generated: np.ndarray, reference: np.ndarray, row: dict[str, Any]) -> dict[str, Any]:
        """Identity and pose values of one clip, in the person boxes of the re-rendered masks."""
        from ..metrics.functional.person_metrics import identity_scores, masked_crop, pose_scores

        if generated.shape != reference.shape:
            raise MetricError(
                f"the generated video is {generated.shape} but the {self.reference} clip is {reference.shape}: "
                "person metrics compare the two frame by frame in the same person boxes"
            )
        height, width = generated.shape[1:3]
        with self.watch("regions"):
            regions = self.regions.regions(row, height, width)
        kept = regions.areas() >= self.settings.person_min_area * height * width
        boxes = regions.boxes()
        boxes[~kept] = np.nan
        values: dict[str, Any] = {}
        if self.embedder is not None:
            fill = tuple(round(255 * m) for m in self.embedder.processor.image_mean)
            jobs = list(zip(*np.nonzero(kept)))
            with self.watch("identity"):
                crops = [masked_crop(generated[t], regions.masks[p, t], boxes[p, t], fill) for p, t in jobs]
                embedded = self.embedder.embed(crops)
            embeddings = np.zeros((*kept.shape, embedded.shape[1] if len(jobs) else 1), np.float32)
            for (p, t), vector in zip(jobs, embedded):
                embeddings[p, t] = vector
            identity = identity_scores(embeddings, kept)
            values.update(
                identity_consistency=identity.consistency,
                identity_swap_rate=identity.swap_rate,
                identity_crops=len(jobs),
            )
        if self.pose is not None:
            with self.watch("pose"):
                if self.reference == "condition":
                    from ..data.person_regions import projected_keypoints

                    real = projected_keypoints(row, self.regions.body, height, width)
                else:
                    real = self.reference_pose.keypoints(reference, boxes)
                ours = self.pose.keypoints(generated, boxes)
            sides = np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]) + 1
            seen = kept
            pose = pose_scores(
                real["xy"][seen],
                real["score"][seen],
                ours["xy"][seen],
                ours["score"][seen],
                sides[seen],
                self.settings.pose_threshold,
                self.settings.pose_alpha,
            )
            values.update(pose_pck=pose.pck, pose_akd=pose.akd, pose_mkr=pose.mkr, pose_targets=pose.targets)
            values[PEOPLE_ARRAYS] = {"boxes": boxes.astype(np.float32), "real_xy": real["xy"], "real_score": real["score"],
                                     "xy": ours["xy"], "score": ours["score"]}  # fmt: skip
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

    def protocol(self) -> dict[str, Any]:
        """The ``clip``, ``motion``, ``identity`` and ``pose`` entries of ``results['protocol']`` (``None``: not scored)."""
        reference = self.reference
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
        identity = pose = None
        if self.embedder is not None:
            identity = {
                **self.embedder.config(),
                "min_area": self.settings.person_min_area,
                "crop": "the box of the person's visible mask, pixels outside the mask set to the model's mean",
            }
        if self.pose is not None:
            targets = (
                "the condition's joints projected into each frame: the 12 limb joints COCO and SMPL share"
                if reference == "condition"
                else "keypoints confident in the real frame"
            )
            pose = {
                **self.pose.config(),
                "threshold": self.settings.pose_threshold,
                "pck_alpha": self.settings.pose_alpha,
                "min_area": self.settings.person_min_area,
                "targets": targets,
            }
        return {"clip": clip, "motion": motion, "identity": identity, "pose": pose}

    def cache_stats(self) -> dict[str, dict[str, int]]:
        """Hits and misses of each cache this suite uses."""
        stats = {}
        if self.text is not None:
            stats["caption_embeddings"] = self.text.cache.stats()
        if self.reference_tracker is not None:
            stats["reference_tracks"] = self.reference_tracker.cache.stats()
        if self.regions is not None:
            stats["person_regions"] = self.regions.cache.stats()
        if self.reference_pose is not None:
            stats["reference_keypoints"] = self.reference_pose.cache.stats()
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

    if {"identity", "pose"} & set(settings.metrics):
        raise MetricError(
            "identity and pose need the people's masks, which come from a dataset row: use "
            "`amg-bench evaluate` on a dataset for them"
        )
    if "clip" in settings.metrics and not prompt.strip():
        raise MetricError("CLIP score needs the caption the video was made from: pass --prompt, or --metrics motion")
    reference_video, generated_video = read_video(reference), read_video(generated)
    suite = MetricSuite(replace(settings, foreground=False), device, cache_root=cache_root)
    values = suite.score(generated_video, reference_video, {"scene_caption": prompt})
    return PairScore(str(reference), str(generated), prompt, values, suite.protocol())
