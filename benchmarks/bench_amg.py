"""Overhead of the ``amg`` method's ``generate()`` over calling ``AMGPipeline`` directly.

Both run the same tiny random components (saved and re-loaded through the real paths) with the
release's settings (20 DDIM steps, guidance 3, 16 frames); the pipeline call is the irreducible
work, so the ratio is what the method wrapper (request checks, seeding, uint8 conversion,
resizing) costs. Goal: <= 1.05x.

    .venv/bin/python benchmarks/bench_amg.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tests_on_path  # noqa: F401  (tests/ holds the random-weight builders)
import torch
from modelscope_for_tests import save_base_folder, tiny_base_components

from amg_bench.methods.amg import AMG
from amg_bench.methods.amg.pipeline import AMGPipeline
from amg_bench.methods.base import GenerationRequest


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        save_base_folder(tiny_base_components(seed=0), root / "base")
        AMGPipeline.from_base(root / "base").save_pretrained(root / "amg")
        method = AMG(model=str(root / "amg"), num_inference_steps=args.steps, height=16, width=16, device="cpu")
        pipe = method.pipeline
        condition = np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3), dtype=np.uint8)
        request = GenerationRequest(
            clip_id="bench", prompt="a man walks in a park", condition=condition, height=16, width=16, seed=0
        )

        def direct():
            pipe(
                request.prompt,
                condition,
                num_inference_steps=args.steps,
                guidance_scale=3.0,
                generator=torch.Generator().manual_seed(0),
                height=16,
                width=16,
            )

        def generate():
            method.generate(request)

        direct(), generate()  # warm-up
        # interleaved, so both see the same drift in machine load
        direct_times, method_times = [], []
        for _ in range(args.repeats):
            direct_times.append(seconds(direct))
            method_times.append(seconds(generate))

    d, m = statistics.median(direct_times), statistics.median(method_times)
    print(f"tiny components, {args.steps} DDIM steps, CFG, 16 frames 16x16, CPU threads {args.threads}")
    print(f"  pipeline call (irreducible): {d * 1e3:8.1f} ms   (median of {args.repeats})")
    print(f"  generate():                  {m * 1e3:8.1f} ms")
    print(f"  overhead ratio: {m / d:.3f}x  (goal <= 1.05x)")


if __name__ == "__main__":
    main()
