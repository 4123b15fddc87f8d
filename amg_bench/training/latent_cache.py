"""Encode each training clip once: VAE latents of video and avatar condition, text embedding.

The release trains on pre-extracted features (one VAE posterior sample per frame, times
0.18215; caption features from the frozen text encoder); this cache does the same from the
dataset rows, once. It is the package's content cache (:class:`amg_bench.cache.ContentCache`,
namespace ``amg_latents``): the settings are the identity of the encoders (a hash of their config
and weights) and the frame size, the key is the clip id and the SHA-256 of the video bytes, the
condition bytes and the caption, so a changed clip, VAE or size gives a new file and never a
stale one. The posterior sample is drawn from a generator seeded by that key (the same file on
every run).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from ..errors import DatasetError, VideoError
from ..video import read_video

CACHE_FORMAT = "amg-latents-v1"


@dataclass(frozen=True)
class ClipSource:
    """The raw inputs of one training clip."""

    clip_id: str
    video: bytes
    condition: bytes
    caption: str


def module_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 of a model's class, config and every parameter/buffer (names, dtypes, bytes)."""
    digest = hashlib.sha256(type(module).__name__.encode())
    config = getattr(module, "config", None)
    if config is not None:
        data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def cache_key(source: ClipSource) -> str:
    """Entry key of a clip: ``<safe clip id>-<24 hex digits of the content hash>``."""
    from ..cache import content_digest

    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in source.clip_id)[:80]
    return f"{safe_id}-{content_digest(source.video, source.condition, source.caption)[:24]}"


def latent_cache(
    pipe, root: str | os.PathLike | None, height: int, width: int, num_frames: int, encoders: str | None = None
):
    """The :class:`~amg_bench.cache.ContentCache` of a pipeline's encoders at this clip size."""
    from ..cache import SAFETENSORS, ContentCache

    if encoders is None:
        encoders = module_fingerprint(pipe.vae) + module_fingerprint(pipe.text_encoder)
    settings = {
        "format": CACHE_FORMAT,
        "encoders": encoders,
        "height": height,
        "width": width,
        "num_frames": num_frames,
    }
    return ContentCache("amg_latents", settings, SAFETENSORS, root)


def _frames(data: bytes, what: str, num_frames: int) -> np.ndarray:
    frames = read_video(data)
    if frames.shape[0] < num_frames:
        raise VideoError(f"{what} has {frames.shape[0]} frames, training needs {num_frames}")
    return frames[:num_frames]


@torch.no_grad()
def encode_clip(
    pipe, source: ClipSource, height: int, width: int, num_frames: int, seed: int
) -> dict[str, torch.Tensor]:
    """``latents`` and ``condition`` ``(4, T, h, w)``, ``prompt_embeds`` ``(L, D)``, all float32."""
    device = pipe.vae.device
    generator = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for name, data in (("latents", source.video), ("condition", source.condition)):
        frames = _frames(data, f"{name} of clip {source.clip_id}", num_frames)
        out[name] = pipe.encode_video(pipe.preprocess_video(frames, height, width), generator)[0]
    out["prompt_embeds"] = pipe.encode_prompt([source.caption], pipe.text_encoder.device)[0]
    return {name: tensor.float().cpu().contiguous() for name, tensor in out.items()}


def build_cache(
    pipe,
    sources: Iterable[ClipSource],
    cache_dir: str | os.PathLike | None,
    *,
    height: int,
    width: int,
    num_frames: int,
    shard: tuple[int, int] = (0, 1),
    encoders: str | None = None,
) -> list[Path]:
    """Make sure every clip has a cache entry; return all entry files in ``sources`` order.

    ``cache_dir`` is the cache root (default :func:`amg_bench.cache.cache_root`).
    ``shard = (index, count)``: this process encodes only the missing clips ``i % count == index``
    (every process returns the full list; call it on all of them, then wait for everyone).
    """
    cache = latent_cache(pipe, cache_dir, height, width, num_frames, encoders)
    paths = []
    for index, source in enumerate(sources):
        key = cache_key(source)
        path = cache.path(key)
        paths.append(path)
        if path.is_file() or index % shard[1] != shard[0]:
            continue
        seed = int(key.rsplit("-", 1)[1][:15], 16)
        tensors = encode_clip(pipe, source, height, width, num_frames, seed)
        cache.put(key, (tensors, {"clip_id": source.clip_id, "format": CACHE_FORMAT}))
    return paths


class CachedClips(torch.utils.data.Dataset):
    """Training samples from cache files: dicts of ``latents``, ``condition``, ``prompt_embeds``."""

    def __init__(self, paths: list[Path]) -> None:
        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            raise DatasetError(f"{len(missing)} latent cache file(s) missing, e.g. {missing[:3]}")
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return load_file(str(self.paths[index]))
