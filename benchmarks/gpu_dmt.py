"""GPU cost of DMT at full size: the default (only the needed inverted latents kept) against the release's way.

ZeroScope's architecture (the ModelScope UNet3D, 1024-wide text encoder, SD VAE) with random
weights (nothing is downloaded), float16 on CUDA, one 16-frame clip at 576 x 320 with the
release's settings: 999 inversion steps, 50 DDIM steps, the first 20 guided by 10 Adam steps
each, guidance 10, restarts. Rows, in the same run on the same components and seed:

- ``DMTPipeline`` (default): inverted latents kept only at the 20 guided timesteps and the last;
- ``release's way``: every one of the 999 inverted latents kept (the release writes them all to
  disk, then reads 50 of them back).

Reports seconds per clip (and of the inversion alone), peak GPU memory, the memory the weights
and the kept latents hold, and whether both give the same video. The release's own figure is
about 7 minutes and 32 GB on one A40 for 24 frames. One clip per row (no repeats): it is designed
to finish in under 8 minutes on one H200. Results are printed and written to ``$OUT/gpu_dmt.json``
when ``$OUT`` is set.

    python benchmarks/gpu_dmt.py              # on a CUDA machine
    python benchmarks/gpu_dmt.py --smoke      # tiny components on CPU, few steps: checks the script itself
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import tests_on_path  # noqa: F401  (tests/ holds the random-weight builders)
import torch
from gpu_common import GIB, synchronize, write_report
from modelscope_for_tests import full_base_components, tiny_base_components

from amg_bench.methods.dmt.pipeline import DMTPipeline

TARGET = "Amazing quality, masterpiece, a man and a woman talk on a bench in a park at dusk"
SOURCE = "Amazing quality, masterpiece, a 3D render of two people as smooth coloured mannequins on a black background"


def run_row(
    name: str, pipe: DMTPipeline, condition: np.ndarray, settings: dict, keep_all: bool
) -> tuple[dict, np.ndarray]:
    device = pipe.unet.device
    invert = pipe.invert
    timing = {}

    def timed_invert(*args, **kwargs):  # the inversion's share, and what its latents hold
        synchronize(device)
        start = time.perf_counter()
        inverted = invert(*args, **kwargs)
        synchronize(device)
        timing["inversion_s"] = time.perf_counter() - start
        timing["inverted_latents"] = len(inverted.latents)
        timing["inverted_gib"] = inverted.nbytes() / GIB
        return inverted

    pipe.invert = timed_invert
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    weights = torch.cuda.memory_allocated(device) / GIB if device.type == "cuda" else None
    synchronize(device)
    start = time.perf_counter()
    try:
        frames = pipe(
            TARGET,
            SOURCE,
            condition,
            generator=torch.Generator().manual_seed(0),
            keep_all_inverted=keep_all,
            **settings,
        ).frames[0]
    finally:
        del pipe.invert
    synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
    row = {"name": name, "seconds": seconds, "peak_gib": peak, "weights_gib": weights, **timing}
    memory = f"peak {peak:6.2f} GiB (weights {weights:5.2f} GiB)" if peak is not None else "memory n/a on CPU"
    print(
        f"{name:<22} {seconds:8.1f} s/clip (inversion {timing['inversion_s']:.1f} s)  {memory}  "
        f"inverted latents kept: {timing['inverted_latents']} = {timing['inverted_gib']:.3f} GiB",
        flush=True,
    )
    return row, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--inversion-steps", type=int, default=999)
    parser.add_argument("--optimization-steps", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny components on CPU, few steps (checks the script)")
    args = parser.parse_args()
    from diffusers import __version__ as diffusers_version

    if args.smoke:
        device, dtype, (height, width) = torch.device("cpu"), torch.float32, (16, 24)
        args.steps, args.inversion_steps, args.optimization_steps = 4, 8, 2
        torch.set_num_threads(1)  # tiny models on shared cores: more threads only spin
        components = tiny_base_components(seed=0)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device; use --smoke to check the script on CPU")
        device, dtype, (height, width) = torch.device("cuda"), torch.float16, (320, 576)
        start = time.perf_counter()
        components = full_base_components(device=device, dtype=dtype)
        print(f"built full-size random components in {time.perf_counter() - start:.1f} s", flush=True)
    pipe = DMTPipeline(**components).to(device)  # the builders made the weights in dtype already
    pipe.set_progress_bar_config(disable=True)
    condition = np.random.default_rng(0).integers(0, 256, (args.frames, 256, 256, 3), dtype=np.uint8)
    settings = {
        "num_inference_steps": args.steps,
        "inversion_steps": args.inversion_steps,
        "optimization_steps": args.optimization_steps,
        "height": height,
        "width": width,
    }
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"{device_name}: {dtype}, {args.frames} frames {width}x{height}, {args.inversion_steps} inversion steps, "
        f"{args.steps} DDIM steps, {args.optimization_steps} Adam steps per guided step; "
        f"torch {torch.__version__}, diffusers {diffusers_version}",
        flush=True,
    )
    default, default_frames = run_row("DMTPipeline (default)", pipe, condition, settings, keep_all=False)
    release, release_frames = run_row("release's way", pipe, condition, settings, keep_all=True)
    same = bool(np.array_equal(default_frames, release_frames, equal_nan=True))
    print(f"release's way / default: {release['seconds'] / default['seconds']:.3f}x time", end="")
    if default["peak_gib"]:
        print(f", {release['peak_gib'] / default['peak_gib']:.3f}x peak memory", end="")
    print(f"; same video: {same}")
    write_report(
        "gpu_dmt",
        device_name,
        dtype,
        frames=args.frames,
        size=[height, width],
        settings=settings,
        rows=[default, release],
        same_video=same,
    )


if __name__ == "__main__":
    main()
