"""The content fingerprint: hashes of what the rows hold before encoding, composable across builds."""

import hashlib
import json

import numpy as np

from amg_bench.data.fingerprint import dataset_fingerprint, row_digest, source_digest

VALUES = {"clip_id": "a_000000", "scene_caption": "two people walk", "smpl": [{"transl": [[0.5, 1.25, 3.0]]}]}


def frames(seed=0):
    return {"video": np.random.default_rng(seed).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)}


def test_row_digest_is_sha256_of_canonical_values_and_frames():
    clip = frames()["video"]
    expected = hashlib.sha256()
    expected.update(json.dumps(VALUES, sort_keys=True).encode())
    expected.update(b"\nvideo:|u1:(16, 8, 8, 3)\n" + clip.tobytes())
    assert row_digest(VALUES, {"video": clip}) == expected.hexdigest()
    assert row_digest(dict(reversed(VALUES.items())), frames()) == expected.hexdigest()  # key order is irrelevant


def test_row_digest_sees_every_pixel_caption_and_parameter():
    base = row_digest(VALUES, frames())
    changed = frames()
    changed["video"][7, 3, 4, 1] ^= 1
    assert row_digest(VALUES, changed) != base
    assert row_digest(VALUES | {"scene_caption": "two people run"}, frames()) != base
    assert row_digest(VALUES | {"smpl": [{"transl": [[0.5, 1.25, 3.0000002]]}]}, frames()) != base
    assert row_digest(VALUES, {"avatar_video": frames()["video"]}) != base  # the column name counts


def test_fingerprint_depends_on_order_options_and_splits():
    a, b = source_digest(["1", "2"]), source_digest(["2", "1"])
    assert a != b and a == hashlib.sha256(b"1\n2\n").hexdigest()
    splits = {"train": [("film_2", 2, a)], "test": [("film_10", 1, b)]}
    fingerprint = dataset_fingerprint({"resolution": 256}, splits)
    assert len(fingerprint) == 16 and fingerprint == dataset_fingerprint(
        {"resolution": 256}, dict(reversed(splits.items()))
    )
    assert dataset_fingerprint({"resolution": 128}, splits) != fingerprint
    assert dataset_fingerprint({"resolution": 256}, {"train": splits["test"], "test": splits["train"]}) != fingerprint
