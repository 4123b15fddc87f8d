"""The torch device and dtype a method runs on, from its ``device`` / ``dtype`` options.

``"auto"`` means CUDA when available (GPU ``$LOCAL_RANK``, one per process under
``accelerate launch`` / ``torchrun``), else the CPU; and float16 on CUDA, float32 elsewhere.
"""

from __future__ import annotations

import os

from ..errors import MethodError

DTYPES = ("auto", "float32", "float16", "bfloat16")


def check_device(device: str, option: str = "device") -> str:
    """``device`` when torch accepts it as a device string (or it is ``"auto"``).

    Raises:
        MethodError: naming the option and the value.
    """
    if device == "auto":
        return device
    import torch

    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MethodError(
            f"option {option} must be 'auto' or a torch device such as cpu or cuda:0, got {device!r}"
        ) from exc
    return device


def check_dtype(dtype: str, option: str = "dtype") -> str:
    """``dtype`` when it is one of :data:`DTYPES`.

    Raises:
        MethodError: naming the option and the value.
    """
    if dtype not in DTYPES:
        raise MethodError(f"option {option} must be one of {list(DTYPES)}, got {dtype!r}")
    return dtype


def resolve_device(device: str = "auto"):
    """A ``torch.device`` for a ``device`` option.

    Raises:
        MethodError: a CUDA device was asked for on a machine without one.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    resolved = torch.device(check_device(device))
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MethodError(f"device {device!r} was asked for, but torch sees no CUDA device on this machine")
    return resolved


def resolve_dtype(dtype: str, device):
    """A ``torch.dtype`` for a ``dtype`` option on ``device`` (``auto``: float16 on CUDA, else float32)."""
    import torch

    check_dtype(dtype)
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, dtype)
