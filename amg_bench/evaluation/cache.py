"""On-disk caches of the work that does not depend on the method: reference tracks, caption embeddings.

Scoring a second method on the same clips then costs only its own videos: the real clips are not
tracked again and the captions not encoded again.

- Reference tracks: ``<root>/tracks/<key>.npy`` (float32 ``(T, N, 2)``), key = sha256 of the
  reference video's mp4 bytes + sha256 of the motion-fidelity settings that shape tracks
  (tracker config, grid, evaluation size, query frame; not the scoring variants).
- Caption embeddings: ``<root>/text/<key>.safetensors`` (float32 ``(D,)`` and the truncation flag
  in the metadata), key = sha256 of the caption + sha256 of the CLIP settings (model, weights,
  context length, dtype; a local weights file also by size and modification time).

Files are written to a temporary name and renamed, so concurrent processes (sharded runs) and
killed runs never leave a partial entry. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_path

CACHE_ENV = "AMG_BENCH_CACHE"


def default_cache_dir() -> Path:
    """``$AMG_BENCH_CACHE``, else ``$XDG_CACHE_HOME/amg_bench``, else ``~/.cache/amg_bench``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "amg_bench"


def settings_hash(settings: Mapping[str, Any]) -> str:
    """sha256 of the settings' canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def entry_key(content_digest: str, settings: Mapping[str, Any]) -> str:
    """Cache key of one item: its content digest and the settings, shortened to 40 hex digits."""
    return hashlib.sha256(f"{content_digest}:{settings_hash(settings)}".encode()).hexdigest()[:40]


class ReferenceTrackCache:
    """Reference-video tracks on disk, computed on a miss by ``compute(frames)``.

    Args:
        root: cache folder.
        settings: everything the tracks depend on (becomes part of every key).
        compute: frames uint8 ``(T, H, W, 3)`` -> tracks ``(T, N, 2)``.
    """

    def __init__(
        self, root: str | os.PathLike, settings: Mapping[str, Any], compute: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        self.folder = Path(root) / "tracks"
        self.settings = dict(settings)
        self.compute = compute
        self.hits = 0
        self.misses = 0

    def path(self, video_bytes: bytes) -> Path:
        return self.folder / f"{entry_key(hashlib.sha256(video_bytes).hexdigest(), self.settings)}.npy"

    def tracks(self, video_bytes: bytes, frames: Callable[[], np.ndarray]) -> np.ndarray:
        """Tracks of the video whose mp4 bytes are ``video_bytes``; ``frames()`` decodes it on a miss."""
        path = self.path(video_bytes)
        cached = _load_npy(path)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        tracks = np.asarray(self.compute(frames()), dtype=np.float32)
        with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as handle:
            np.save(handle, tracks, allow_pickle=False)
        return tracks


class CaptionEmbeddingCache:
    """Caption embeddings on disk, computed on a miss by ``compute(caption) -> (embedding, truncated)``."""

    def __init__(
        self, root: str | os.PathLike, settings: Mapping[str, Any], compute: Callable[[str], tuple[Any, bool]]
    ) -> None:
        self.folder = Path(root) / "text"
        self.settings = dict(settings)
        self.compute = compute
        self.hits = 0
        self.misses = 0

    def path(self, caption: str) -> Path:
        digest = hashlib.sha256(caption.encode("utf-8")).hexdigest()
        return self.folder / f"{entry_key(digest, self.settings)}.safetensors"

    def embedding(self, caption: str):
        """``(float32 tensor (D,), truncated)`` of ``caption``."""
        import torch
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import save_file

        path = self.path(caption)
        if path.is_file():
            try:
                with safe_open(str(path), framework="pt") as handle:
                    embedding = handle.get_tensor("embedding")
                    truncated = handle.metadata().get("truncated") == "true"
                self.hits += 1
                return embedding, truncated
            except (OSError, SafetensorError, KeyError):
                pass  # unreadable entry (e.g. from another version): recompute and replace it
        self.misses += 1
        embedding, truncated = self.compute(caption)
        embedding = embedding.detach().to("cpu", torch.float32).contiguous()
        with atomic_path(path, suffix=".safetensors") as tmp:
            save_file({"embedding": embedding}, str(tmp), metadata={"truncated": "true" if truncated else "false"})
        return embedding, bool(truncated)


def _load_npy(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
