"""The content fingerprint of a built dataset: a hash of what was encoded, never of encoded bytes.

x264 run through PyAV does not give the same bytes twice for the same frames, so a hash of the
shards would change with every build. The fingerprint is computed instead from what the
encoder was given and from every other value of every row:

* ``row_digest``: sha256 of one row's non-video values (canonical JSON: ids, captions, SMPL
  parameters, camera) and, per video column, the uint8 frames it encodes (shape and bytes);
* ``source_digest``: sha256 of the row digests of one (split, source), in start order;
* ``dataset_fingerprint``: sha256 of the content options and, per split in name order, each
  source's (id, rows, digest) in row order (sources in natural order); the first 16 hex digits.

Source digests compose: a build run in one process, in many, or as ``--shard I/N`` parts merged
afterwards gives the same fingerprint whenever it gives the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

FINGERPRINT_VERSION = 1


def row_digest(values: Mapping[str, Any], frames: Mapping[str, np.ndarray]) -> str:
    """Hex sha256 of one row: ``values`` (JSON-able, video columns excluded) and the frames of each video column.

    Floats are hashed through ``json.dumps`` (the shortest repr that round-trips), so the same
    float32 parameters always give the same text.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(values, sort_keys=True, ensure_ascii=True, allow_nan=False).encode("ascii"))
    for name in sorted(frames):
        array = np.ascontiguousarray(frames[name])
        digest.update(f"\n{name}:{array.dtype.str}:{array.shape}\n".encode("ascii"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def source_digest(row_digests: Iterable[str]) -> str:
    """Hex sha256 of a (split, source)'s row digests, in row order."""
    digest = hashlib.sha256()
    for row in row_digests:
        digest.update(row.encode("ascii") + b"\n")
    return digest.hexdigest()


def dataset_fingerprint(options: Mapping[str, Any], splits: Mapping[str, Iterable[tuple[str, int, str]]]) -> str:
    """16 hex digits over the content options and every split's ``(source_id, rows, source_digest)`` list.

    ``splits`` lists sources in row order (the builder's natural source order); another order is
    another dataset, with another fingerprint.
    """
    payload = {
        "version": FINGERPRINT_VERSION,
        "options": options,
        "splits": {name: [list(entry) for entry in entries] for name, entries in sorted(splits.items())},
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
