"""A method that records the request it gets (reached as ``control_for_tests:RecordRequest``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from amg_bench.methods.base import Method


@dataclass
class RecordOptions:
    record: str  # where the request goes: <record>.json (text and numbers) and <record>.npz (arrays)


class RecordRequest(Method):
    """Returns the condition; writes every field of the request it was given."""

    name = "record-request"
    requires = frozenset({"prompt", "appearance_prompts", "condition"})
    Options = RecordOptions

    def generate(self, request):
        scalars = {k: getattr(request, k) for k in ("prompt", "appearance_prompts", "num_frames", "fps", "height",
                                                    "width", "seed")}  # fmt: skip
        with open(f"{self.options.record}.json", "w") as handle:
            json.dump(scalars | {"encoded": sorted(request.encoded)}, handle)
        arrays = {"condition": request.condition} | {f"encoded_{k}": np.frombuffer(v, np.uint8)
                                                     for k, v in request.encoded.items()}  # fmt: skip
        np.savez(f"{self.options.record}.npz", **arrays)
        return request.condition
