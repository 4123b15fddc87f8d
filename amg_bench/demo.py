"""``amg-bench demo``: the whole benchmark on the built-in demo data, offline.

Builds the demo dataset if it is absent, evaluates the reference methods ``ground-truth`` and
``avatar`` and the calibration methods ``frozen`` and ``shuffled`` on its test split under the
``offline`` protocol (the weight-free KLT tracker), adds CLIP scores when the CLIP weights are
already on this machine, and writes the leaderboard. Every step is the library call a user would
make; re-running resumes (finished clips are not recomputed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEMO_METHODS = ("ground-truth", "avatar", "frozen", "shuffled")
DEMO_PROTOCOL = "offline"


@dataclass
class DemoReport:
    dataset: Path
    built: bool
    runs: dict[str, Path]
    leaderboard: Path
    skipped: list[str] = field(default_factory=list)
    failures: dict[str, list] = field(default_factory=dict)


def run_demo(
    dataset: str | Path = "demo_data/avatar-motion-demo",
    runs: str | Path = "runs/demo",
    leaderboard: str | Path = "leaderboard/demo",
    clip_model: str = "ViT-L-14",
    clip_pretrained: str = "openai",
    grid_size: int = 55,
    say: Callable[[str], None] = print,
    progress: bool = True,
) -> DemoReport:
    """Build (if needed), evaluate the reference methods, and write the leaderboard."""
    from .data.demo import build_demo_dataset
    from .evaluation.protocols import protocol_scoring
    from .evaluation.runner import EvaluationConfig, evaluate
    from .leaderboard import build_leaderboard
    from .metrics.clip_score import clip_download_hint, clip_weights_available
    from .metrics.person_models import DEFAULT_IDENTITY_MODEL, DEFAULT_POSE_MODEL, person_weights_available

    dataset, runs, leaderboard = Path(dataset), Path(runs), Path(leaderboard)
    built = not dataset.exists()
    if built:
        say(f"building the demo dataset into {dataset} ...")
        report = build_demo_dataset(dataset, progress=progress)
        say(f"built {', '.join(f'{k} {v}' for k, v in report.splits.items())} clips in {report.seconds:.0f}s")
    else:
        say(f"using the demo dataset in {dataset}")

    metrics: list[str] = ["motion"]
    skipped = []
    if clip_weights_available(clip_model, clip_pretrained):
        metrics.insert(0, "clip")
    else:
        skipped.append(
            f"CLIP score skipped: {clip_model}/{clip_pretrained} weights are not on this machine "
            f"(download them once with network access: {clip_download_hint(clip_model, clip_pretrained)}; "
            "then run `make demo` again)"
        )
    for group, model in (("identity", DEFAULT_IDENTITY_MODEL), ("pose", DEFAULT_POSE_MODEL)):
        if person_weights_available(model):
            metrics.append(group)
        else:
            skipped.append(
                f"{group} metrics skipped: {model} is not on this machine (download it once with network "
                f"access: `hf download {model}`; then run `make demo` again)"
            )
    for line in skipped:
        say(line)
    scoring = protocol_scoring(
        DEMO_PROTOCOL,
        metrics=tuple(metrics),
        grid_size=grid_size,
        clip_model=clip_model,
        clip_pretrained=clip_pretrained,
    )
    results, failures = {}, {}
    for method in DEMO_METHODS:
        out = runs / method
        say(f"evaluating {method} -> {out}")
        summary = evaluate(
            EvaluationConfig(
                method=method,
                dataset=str(dataset),
                out=out,
                split="test",
                protocol=DEMO_PROTOCOL,
                scoring=scoring,
                progress=progress,
            )
        )
        results[method] = out
        if summary.failures:
            failures[method] = summary.failures
    board = build_leaderboard(
        [p / "results.json" for p in results.values()], leaderboard, dataset=str(dataset), split="test", overwrite=True
    )
    say(f"leaderboard written to {board} (open {board / 'index.html'})")
    return DemoReport(dataset, built, results, board, skipped, failures)
