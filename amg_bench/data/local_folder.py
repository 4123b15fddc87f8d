"""A local built dataset folder, checked before ``datasets`` reads it, and the cache it is read through.

Checked once per load, so every reader (evaluation, training, the leaderboard gallery, ``info``,
the demo) refuses the same bad folders with the same one-line messages:

* the card's YAML front matter parses (``datasets`` would fail with a multi-line parser error);
* every shard ``amg_bench_build.json`` lists is present with the sha256 the build recorded
  (each file hashed once per path, size and mtime, through the content cache), and no other
  data file sits beside them: the card's ``data/<split>-*`` patterns would load it too;
* every parquet shard has a readable footer and at least one row (``datasets`` cannot read a
  shard of zero rows, and says so only deep in its traceback).

``datasets`` keys its prepared copy of a local folder on the folder's name and the card's
configuration, not on the data files' content, so a folder rebuilt or edited in place, or
another folder of the same name, could be served from an older prepared copy. Local folders are
therefore prepared into a cache folder keyed by the card, the build record and every data
file's name, size and mtime (:func:`prepared_cache_dir`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import DatasetError

CARD = "README.md"


def card_front_matter(folder: Path) -> dict[str, Any] | None:
    """The card's YAML front matter as a mapping; ``None`` without a card or front matter.

    Raises:
        DatasetError: the front matter is not valid YAML or not a mapping (line and column named).
    """
    from ..readers import parse_yaml

    path = folder / CARD
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"dataset card {path} is not readable UTF-8 text ({exc})") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    if end is None:
        raise DatasetError(f"dataset card {path}: the YAML front matter opened by '---' is never closed")
    data = parse_yaml("\n".join(lines[1:end]), f"the YAML front matter of dataset card {path}", DatasetError)
    if data is not None and not isinstance(data, dict):
        raise DatasetError(f"the YAML front matter of dataset card {path} must be a mapping, got {type(data).__name__}")
    return data


def data_files(folder: Path) -> list[str]:
    """Relative paths (posix) of the files under ``folder/data``, sorted."""
    data = folder / "data"
    if not data.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in data.rglob("*") if p.is_file())


def verify_shards(folder: Path, info: dict[str, Any], cache_root=None) -> None:
    """Check the data files against the sha256 ``info`` (the build record) lists for them.

    Raises:
        DatasetError: a listed shard is missing or its bytes changed since the build, or a data
            file the build did not write sits among the shards.
    """
    from ..cache import JSON, ContentCache, content_digest
    from ..files import sha256_file

    splits = info.get("splits") or {}
    listed = {
        name: expected
        for split in splits.values()
        if isinstance(split, dict)
        for name, expected in (split.get("files") or {}).items()
    }
    if not listed:
        return
    extra = [name for name in data_files(folder) if name not in listed]
    if extra:
        raise DatasetError(
            f"dataset {folder}: {extra[0]} is not one of the shards its amg_bench_build.json lists "
            f"({len(extra)} such file(s); a leftover of another build?): remove it, or rebuild the dataset"
        )
    cache = ContentCache("shard_sha256", {"algorithm": "sha256"}, JSON, cache_root)
    for name, expected in listed.items():
        path = folder / name
        if not path.is_file():
            raise DatasetError(f"dataset {folder}: shard {name} is missing")
        stat = path.stat()
        key = content_digest(str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns))
        actual = cache.get_or_compute(key, lambda p=path: sha256_file(p))
        if actual != expected:
            raise DatasetError(
                f"dataset {folder}: shard {name} changed since it was built (sha256 {actual[:12]}..., the build "
                f"recorded {str(expected)[:12]}...): rebuild the dataset or re-download its shards"
            )


def check_parquet_shards(folder: Path) -> None:
    """Every ``data/*.parquet`` file opens as parquet (its footer) and holds rows.

    Raises:
        DatasetError: naming the shard and what is wrong with it.
    """
    import pyarrow.parquet as pq

    for name in data_files(folder):
        if not name.endswith(".parquet"):
            continue
        try:
            rows = pq.ParquetFile(folder / name).metadata.num_rows
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for empty, cut or foreign files
            raise DatasetError(
                f"dataset {folder}: shard {name} is not a readable parquet file ({' '.join(str(exc).split())})"
            ) from None
        if rows == 0:
            raise DatasetError(f"dataset {folder}: shard {name} holds no rows; rebuild the dataset")


def prepared_cache_dir(folder: Path) -> Path:
    """Where ``datasets`` prepares this folder: under its own cache, keyed by the folder's content."""
    import datasets

    digest = hashlib.sha256()
    for name in [CARD, "amg_bench_build.json", *data_files(folder)]:
        path = folder / name
        if not path.is_file():
            continue
        stat = path.stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if name in (CARD, "amg_bench_build.json"):
            digest.update(path.read_bytes())
    return Path(os.path.expanduser(datasets.config.HF_DATASETS_CACHE)) / "amg_bench_local" / digest.hexdigest()[:16]


def check_folder(folder: Path, cache_root=None) -> Path:
    """Run every check above on ``folder``; return the ``datasets`` cache folder to read it through.

    Raises:
        DatasetError: see :func:`card_front_matter`, :func:`verify_shards`,
            :func:`check_parquet_shards` and :func:`amg_bench.data.hub.build_info`.
    """
    from .hub import build_info

    card_front_matter(folder)
    info = build_info(folder)
    if info is not None:
        verify_shards(folder, info, cache_root)
    check_parquet_shards(folder)
    return prepared_cache_dir(folder)
