"""Read a released ``.pth`` / ``.ckpt`` checkpoint as weights only.

Release checkpoints are pickles. One is read only because the user named it, and only with
``torch.load(weights_only=True)``, which refuses any object but tensors and plain containers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConversionError


def read_state_dict(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """The tensors of a checkpoint: its ``state_dict`` entry, or the whole file when that is a state dict.

    Raises:
        ConversionError: missing file, not a weights-only pickle, or no state dict of tensors in it.
    """
    import pickle

    import torch

    path = Path(checkpoint)
    if not path.is_file():
        raise ConversionError(f"checkpoint {path} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(
            f"cannot read checkpoint {path} as weights only (torch.load(weights_only=True)): {first}"
        ) from exc
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = str(sorted(map(str, loaded))[:10]) if isinstance(loaded, dict) else type(loaded).__name__
        raise ConversionError(f"checkpoint {path} holds no state dict of tensors (keys: {keys})")
    return state
