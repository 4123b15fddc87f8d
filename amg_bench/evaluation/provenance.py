"""What a results file records about the software and the moment it was made."""

from __future__ import annotations

from datetime import datetime, timezone
from importlib import metadata

#: Distributions whose versions can change a score (or the generated videos).
TRACKED_DISTRIBUTIONS = (
    "amg-bench",
    "torch",
    "numpy",
    "open_clip_torch",
    "opencv-python-headless",
    "av",
    "datasets",
    "huggingface_hub",
    "accelerate",
    "safetensors",
    "diffusers",
    "transformers",
    "peft",
)


def package_versions(names: tuple[str, ...] = TRACKED_DISTRIBUTIONS) -> dict[str, str]:
    """``{distribution: version}`` for the installed ones (``amg-bench`` is reported as ``amg_bench``)."""
    versions = {}
    for name in names:
        try:
            versions[name.replace("-", "_") if name == "amg-bench" else name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
