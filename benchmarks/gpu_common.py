"""What the GPU benchmarks share: timing that waits for the device, and the report each writes.

Each ``gpu_*.py`` prints its figures and, when ``$OUT`` is set (the device machine's output
folder), also writes them as ``$OUT/<name>.json`` with the device, dtype and library versions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

GIB = 1024**3


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a wall-clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_report(name: str, device_name: str, dtype, **figures: Any) -> None:
    """Write ``$OUT/<name>.json`` (when ``$OUT`` is set): the figures, the device and the versions."""
    from diffusers import __version__ as diffusers_version

    if not os.environ.get("OUT"):
        return
    report = {"device": device_name, "dtype": str(dtype), **figures, "torch": torch.__version__,
              "diffusers": diffusers_version}  # fmt: skip
    path = Path(os.environ["OUT"]) / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"written {path}")
