"""Both benchmark metrics for one pair of video files (behind ``amg-bench score``).

CLIP score is computed on the generated video against the prompt; motion fidelity compares the
generated video's tracks with the reference video's. The report carries every metric's config
so a printed number can be traced to its model, weights, tracker and variant.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..video import read_video
from .clip_score import DEFAULT_MODEL, DEFAULT_PRETRAINED, CLIPScorer, ClipScoreResult
from .functional.motion_fidelity import VARIANTS
from .motion_fidelity import DEFAULT_EVAL_SIZE, MotionFidelity
from .tracking import DEFAULT_GRID_SIZE


@dataclass
class ScoreReport:
    """Scores of one generated video, with provenance."""

    reference: str
    generated: str
    prompt: str
    clip: ClipScoreResult
    motion_fidelity: dict[str, float]
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def to_json(self) -> str:
        """Indented JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """A few readable lines: CLIP score, then each motion-fidelity variant."""
        clip_cfg, mf_cfg = self.config["clip"], self.config["motion_fidelity"]
        tracker = mf_cfg["tracker"]
        label = tracker["name"] + (
            " - offline approximation, not comparable with cotracker"
            if tracker["approximation"]
            else f" {tracker.get('model', '')}".rstrip()
        )
        size = "x".join(map(str, mf_cfg["eval_size"])) if mf_cfg["eval_size"] else "native size"
        lines = [
            f"reference: {self.reference}",
            f"generated: {self.generated}",
            f"clip score: {self.clip.score:.2f} ({clip_cfg['model']}, weights {clip_cfg['pretrained']}, "
            f"{len(self.clip.per_frame)} frames, caption truncated to {clip_cfg['context_length']} tokens: "
            f"{'yes' if self.clip.truncated else 'no'})",
            f"motion fidelity (tracker {label}; {mf_cfg['grid_size']}x{mf_cfg['grid_size']} grid at {size}):",
        ]
        lines += [f"  {variant}: {value:.2f}" for variant, value in self.motion_fidelity.items()]
        return "\n".join(lines)


def score_videos(
    reference: str | os.PathLike,
    generated: str | os.PathLike,
    prompt: str,
    *,
    tracker: str = "klt",
    variants: Iterable[str] = VARIANTS,
    grid_size: int = DEFAULT_GRID_SIZE,
    eval_size: tuple[int, int] | None = DEFAULT_EVAL_SIZE,
    clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str | None = DEFAULT_PRETRAINED,
    clip_dtype: str = "float32",
    device: str = "cpu",
    tracker_options: dict[str, Any] | None = None,
) -> ScoreReport:
    """CLIP score of ``generated`` against ``prompt`` and its motion fidelity against ``reference``.

    Both models are loaded before any scoring, so a missing weight fails fast.

    Raises:
        VideoError: a video is missing or unreadable.
        MetricError: inconsistent videos or options.
        MissingWeightsError: CLIP or CoTracker weights are not available offline.
        TrackerError: the tracker cannot be built or fails.
    """
    reference_video = read_video(reference)
    generated_video = read_video(generated)
    options = dict(tracker_options or {})
    if tracker == "cotracker":
        options.setdefault("device", device)
    fidelity = MotionFidelity(tracker, grid_size=grid_size, eval_size=eval_size, variants=variants, **options)
    scorer = CLIPScorer(clip_model, clip_pretrained, device=device, dtype=clip_dtype)
    clip = scorer.score(generated_video, prompt)
    motion = fidelity.score(generated_video, reference_video)
    return ScoreReport(
        reference=str(reference),
        generated=str(generated),
        prompt=prompt,
        clip=clip,
        motion_fidelity=motion,
        config={"clip": scorer.config(), "motion_fidelity": fidelity.config()},
    )
