"""GPU cost of MagicAnimate at full size: one 16-frame 512 x 512 clip, as the release samples it.

The release's architecture with random weights (nothing is downloaded): SD 1.5 UNet + AnimateDiff
v1 motion modules (``UNetMotionModel``), an SD 1.5-sized appearance encoder and ControlNet, the
SD VAE and a ViT-L/14-sized text encoder, all fp16; 25 DDIM steps, guidance 7.5 (both branches
batched), one window. Reports seconds per clip (mean and min over ``--repeats`` after one
warm-up), peak GPU memory during a run, the memory the weights hold, and where the time goes
(one extra run with synchronising forward hooks: text encoder, appearance encoder, ControlNet,
motion UNet, VAE, and the rest of the loop). Printed, and written to
``$OUT/gpu_magicanimate.json`` when ``$OUT`` is set. About 2 minutes on one H200.

    python benchmarks/gpu_magicanimate.py              # on a CUDA machine
    python benchmarks/gpu_magicanimate.py --smoke      # tiny components on CPU: checks the script itself
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import tests_on_path  # noqa: F401  (tests/ holds the random-weight builders)
import torch
from gpu_common import GIB, synchronize, write_report
from magicanimate_for_tests import TINY_SIZE, full_components, tiny_components

from amg_bench.methods.magicanimate.pipeline import MagicAnimatePipeline

NETWORKS = ("text_encoder", "appearance_encoder", "controlnet", "unet", "vae")


class Breakdown:
    """Seconds inside each network's forward calls (synchronised at both ends; outermost calls only)."""

    def __init__(self, pipe: MagicAnimatePipeline, device: torch.device) -> None:
        self.device, self.seconds, self.handles = device, dict.fromkeys(NETWORKS, 0.0), []
        for name in NETWORKS:
            # the VAE is called through encode() / decode(), which run its encoder / decoder modules
            modules = (pipe.vae.encoder, pipe.vae.decoder) if name == "vae" else (getattr(pipe, name),)
            for module in modules:
                self.handles.append(module.register_forward_pre_hook(lambda *a, name=name: self._enter(name)))
                self.handles.append(module.register_forward_hook(lambda *a, name=name: self._leave(name)))
        self._start: dict[str, float] = {}

    def _enter(self, name: str) -> None:
        synchronize(self.device)
        self._start[name] = time.perf_counter()

    def _leave(self, name: str) -> None:
        synchronize(self.device)
        self.seconds[name] += time.perf_counter() - self._start.pop(name)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--smoke", action="store_true", help="tiny components on CPU (checks the script)")
    args = parser.parse_args()

    from diffusers import __version__ as diffusers_version

    start = time.perf_counter()
    if args.smoke:
        device, dtype, size = torch.device("cpu"), torch.float32, TINY_SIZE
        components = tiny_components(seed=0)
        components.pop("sd_unet")
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device; use --smoke to check the script on CPU")
        device, dtype, size = torch.device("cuda"), torch.float16, 512
        components = full_components(device=device, dtype=dtype)
    pipe = MagicAnimatePipeline(**components).to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    print(f"built random components in {time.perf_counter() - start:.1f} s", flush=True)
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    pose = rng.integers(0, 256, (args.frames, size, size, 3), dtype=np.uint8)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"{device_name}: {dtype}, {args.frames} frames {size}x{size}, {args.steps} DDIM steps, guidance "
        f"{args.guidance}; torch {torch.__version__}, diffusers {diffusers_version}",
        flush=True,
    )

    def run():
        pipe(
            reference,
            pose,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            generator=torch.Generator().manual_seed(0),
            size=size,
        )

    with torch.inference_mode():
        run()  # warm-up (kernel selection, allocator growth)
        synchronize(device)
        weights = torch.cuda.memory_allocated(device) / GIB if device.type == "cuda" else None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(args.repeats):
            synchronize(device)
            begin = time.perf_counter()
            run()
            synchronize(device)
            times.append(time.perf_counter() - begin)
        peak = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
        breakdown = Breakdown(pipe, device)
        synchronize(device)
        begin = time.perf_counter()
        run()
        synchronize(device)
        instrumented = time.perf_counter() - begin
        breakdown.remove()

    memory = f"peak {peak:.2f} GiB (weights {weights:.2f} GiB)" if peak is not None else "memory n/a on CPU"
    print(f"MagicAnimatePipeline  {statistics.mean(times):8.2f} s/clip (min {min(times):.2f})  {memory}")
    networks = sum(breakdown.seconds.values())
    for name in NETWORKS:
        seconds = breakdown.seconds[name]
        print(f"  {name:<20} {seconds:8.2f} s  ({100 * seconds / instrumented:5.1f}%)")
    print(f"  {'rest of the loop':<20} {instrumented - networks:8.2f} s  ({100 * (1 - networks / instrumented):5.1f}%)")
    write_report(
        "gpu_magicanimate",
        device_name,
        dtype,
        frames=args.frames,
        size=size,
        steps=args.steps,
        guidance=args.guidance,
        seconds_mean=statistics.mean(times),
        seconds_min=min(times),
        repeats=args.repeats,
        peak_gib=peak,
        weights_gib=weights,
        breakdown_seconds={**breakdown.seconds, "rest": instrumented - networks},
    )


if __name__ == "__main__":
    main()
