"""Overhead of the ``magicanimate`` method over its raw calls, on tiny random components (CPU).

Two ratios, each against work measured in the same run:

- ``generate()`` vs a direct ``MagicAnimatePipeline`` call: what the method adapter costs
  (request checks, seeding, uint8 conversion, resizing). Goal: <= 1.05x.
- the pipeline call vs the time spent inside its networks' forward calls (text encoder,
  appearance encoder, ControlNet, motion UNet, VAE; timed with forward hooks): what the
  sampling loop itself costs (window gathering, averaging, reference bank, scheduler). With
  toy-sized networks this glue is a visible share; at full size it vanishes (see
  ``gpu_magicanimate.py``).

Release settings: 25 DDIM steps, guidance 7.5, 16 frames (one window), 16 x 16 pixels.

    .venv/bin/python benchmarks/bench_magicanimate.py [--repeats 5] [--threads 1] [--frames 16]
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
from magicanimate_for_tests import TINY_SIZE, tiny_pipeline

from amg_bench.methods.base import GenerationRequest
from amg_bench.methods.magicanimate import MagicAnimate


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class NetworkTimer:
    """Wall time spent inside the forward calls of some modules (outermost calls only)."""

    def __init__(self, modules) -> None:
        self.total, self._depth, self._start = 0.0, 0, 0.0
        for module in modules:
            module.register_forward_pre_hook(self._enter)
            module.register_forward_hook(self._leave)

    def _enter(self, *args) -> None:
        if self._depth == 0:
            self._start = time.perf_counter()
        self._depth += 1

    def _leave(self, *args) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.total += time.perf_counter() - self._start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "magicanimate"
        tiny_pipeline(seed=0).save_pretrained(folder)
        method = MagicAnimate(model=str(folder), num_inference_steps=args.steps, size=TINY_SIZE, device="cpu")
        pipe = method.pipeline
        rng = np.random.default_rng(0)
        request = GenerationRequest(
            clip_id="bench",
            reference_frame=rng.integers(0, 256, (TINY_SIZE, TINY_SIZE, 3), dtype=np.uint8),
            pose=rng.integers(0, 256, (args.frames, TINY_SIZE, TINY_SIZE, 3), dtype=np.uint8),
            num_frames=args.frames,
            height=TINY_SIZE,
            width=TINY_SIZE,
        )

        def direct():
            pipe(
                request.reference_frame,
                request.pose,
                num_inference_steps=args.steps,
                generator=torch.Generator().manual_seed(0),
                size=TINY_SIZE,
            )

        def generate():
            method.generate(request)

        direct(), generate()  # warm-up
        networks = [
            pipe.text_encoder,
            pipe.appearance_encoder,
            pipe.controlnet,
            pipe.unet,
            pipe.vae.encoder,
            pipe.vae.decoder,
        ]
        timer = NetworkTimer(networks)  # the VAE runs through encode() / decode(): its encoder / decoder modules
        direct_times, method_times, network_times = [], [], []
        for _ in range(args.repeats):  # interleaved, so both see the same drift in machine load
            before = timer.total
            direct_times.append(seconds(direct))
            network_times.append(timer.total - before)
            method_times.append(seconds(generate))

    d, m, n = (statistics.median(x) for x in (direct_times, method_times, network_times))
    print(f"tiny components, {args.steps} DDIM steps, guidance 7.5, {args.frames} frames {TINY_SIZE}x{TINY_SIZE}, "
          f"CPU threads {args.threads}")  # fmt: skip
    print(f"  networks' forward calls:  {n * 1e3:8.1f} ms   (median of {args.repeats})")
    print(f"  pipeline call:            {d * 1e3:8.1f} ms   -> sampling-loop overhead {d / n:.3f}x the networks")
    print(f"  generate():               {m * 1e3:8.1f} ms")
    print(f"  method overhead ratio: {m / d:.3f}x the pipeline call  (goal <= 1.05x)")


if __name__ == "__main__":
    main()
