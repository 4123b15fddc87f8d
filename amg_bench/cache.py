"""The one on-disk content cache: work that depends only on content and settings is done once.

Every cache of the package (reference tracks, caption embeddings, person masks, keypoints and
embeddings of real frames, training latents, VLM captions, the generated mannequin) is a
:class:`ContentCache`: a *namespace*, the *settings* the values depend on (their hash names a
sub-folder, next to a ``settings.json`` that says what they were), a *codec* (``.npz`` arrays,
``.safetensors`` tensors, ``.json``) and a key per item, normally the sha256 of the item's
content. A changed model, tracker option or input therefore never reads a stale entry.

    <root>/<namespace>/<settings sha256[:16]>/settings.json
    <root>/<namespace>/<settings sha256[:16]>/<key>.<suffix>

The root is ``$AMG_BENCH_CACHE``, else ``$XDG_CACHE_HOME/amg_bench``, else ``~/.cache/amg_bench``.
Entries are written under a temporary name and renamed (concurrent processes and killed runs
never leave a partial entry); an unreadable entry is recomputed. Nothing is pickled. Hits and
misses are counted, so a run can report what the cache saved.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_path, write_json

CACHE_ENV = "AMG_BENCH_CACHE"


def cache_root() -> Path:
    """``$AMG_BENCH_CACHE``, else ``$XDG_CACHE_HOME/amg_bench``, else ``~/.cache/amg_bench``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "amg_bench"


def settings_hash(settings: Mapping[str, Any]) -> str:
    """sha256 of the settings' canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def content_digest(*parts: bytes | str | np.ndarray) -> str:
    """sha256 over ``parts``, each length-prefixed (arrays by dtype, shape and bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            data = np.ascontiguousarray(part)
            header = f"{data.dtype.str}{data.shape}".encode()
            digest.update(len(header).to_bytes(8, "little") + header)
            payload = data.tobytes()
        else:
            payload = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        digest.update(len(payload).to_bytes(8, "little"))
        digest.update(payload)
    return digest.hexdigest()


class NpzCodec:
    """``{name: numpy array}`` as an uncompressed ``.npz`` without pickled objects."""

    suffix = ".npz"

    def save(self, path: Path, value: Mapping[str, np.ndarray]) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in value.items()})

    def load(self, path: Path) -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


class SafetensorsCodec:
    """``({name: torch tensor}, {str: str} metadata)`` as ``.safetensors``."""

    suffix = ".safetensors"

    def save(self, path: Path, value: tuple[Mapping[str, Any], Mapping[str, str]]) -> None:
        from safetensors.torch import save_file

        tensors, metadata = value
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path), metadata=dict(metadata))

    def load(self, path: Path) -> tuple[dict[str, Any], dict[str, str]]:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})  # noqa: SIM118


class JsonCodec:
    """Any JSON value as ``.json``."""

    suffix = ".json"

    def save(self, path: Path, value: Any) -> None:
        path.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")

    def load(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))


NPZ, SAFETENSORS, JSON = NpzCodec(), SafetensorsCodec(), JsonCodec()


class ContentCache:
    """Values keyed by content under one namespace and one set of settings.

    Args:
        namespace: the kind of value (``"reference_tracks"``, ``"captions"``...), a folder name.
        settings: everything the values depend on besides the key's content (JSON-ready).
        codec: :data:`NPZ`, :data:`SAFETENSORS` or :data:`JSON`.
        root: the cache root (default :func:`cache_root`).
    """

    def __init__(
        self, namespace: str, settings: Mapping[str, Any], codec: Any = NPZ, root: str | os.PathLike | None = None
    ) -> None:
        self.namespace = namespace
        self.settings = json.loads(json.dumps(dict(settings), sort_keys=True, default=str))
        self.codec = codec
        self.root = Path(root) if root is not None else cache_root()
        self.folder = self.root / namespace / settings_hash(self.settings)[:16]
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{self.codec.suffix}"

    def get(self, key: str) -> Any | None:
        """The cached value of ``key``, or ``None`` (absent, or unreadable: it is then recomputed)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return self.codec.load(path)
        except Exception:  # a damaged or foreign entry is a miss, never an error
            return None

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` atomically (and the settings file once per folder)."""
        if not (self.folder / "settings.json").is_file():
            write_json(self.folder / "settings.json", {"namespace": self.namespace, "settings": self.settings})
        with atomic_path(self.path(key), suffix=self.codec.suffix) as tmp:
            self.codec.save(tmp, value)

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        """The cached value of ``key``; on a miss, ``compute()`` is stored and returned."""
        cached = self.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        value = compute()
        self.put(key, value)
        return value

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}
