"""GPU cost of AMG at full size against diffusers' ``TextToVideoSDPipeline`` on the same components.

The ms-1.7b architecture with random weights (nothing is downloaded), fp16, 16 frames at
256 x 256, 20 DDIM steps, classifier-free guidance 3.0. Rows:

- ``TextToVideoSDPipeline``: the base text-to-video model (the irreducible work);
- ``AMGPipeline``: the same components with the 8-channel ``conv_in``, unmerged peft LoRA on
  264 projections, plus VAE-encoding the 16-frame condition;
- ``AMGPipeline, LoRA merged``: the same after merging LoRA into the weights (what LoRA costs).

Reports seconds per video (mean and min over ``--repeats`` after one warm-up), peak GPU memory
during a run and the memory the weights hold. Only the measured pipeline's UNet is on the GPU
while it runs. Results are printed and written to ``$OUT/gpu_amg.json`` when ``$OUT`` is set.

    python benchmarks/gpu_amg.py              # on a CUDA machine (a few minutes)
    python benchmarks/gpu_amg.py --smoke      # tiny components on CPU: checks the script itself
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import numpy as np
import tests_on_path  # noqa: F401  (tests/ holds the random-weight builders)
import torch
from gpu_common import GIB, synchronize, write_report
from modelscope_for_tests import full_base_components, tiny_base_components

from amg_bench.methods.amg.components import release_scheduler
from amg_bench.methods.amg.pipeline import AMGPipeline
from amg_bench.methods.amg.unet import lora_layers, make_amg_unet

PROMPT = "a man and a woman talk on a bench in a park at dusk"


def measure(name: str, run, device: torch.device, repeats: int) -> dict:
    run()  # warm-up (kernel selection, allocator growth)
    synchronize(device)
    weights = torch.cuda.memory_allocated(device) / GIB if device.type == "cuda" else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
    row = {
        "name": name,
        "seconds_mean": statistics.mean(times),
        "seconds_min": min(times),
        "peak_gib": peak,
        "weights_gib": weights,
        "repeats": repeats,
    }
    memory = f"peak {peak:6.2f} GiB (weights {weights:5.2f} GiB)" if peak is not None else "memory n/a on CPU"
    print(f"{name:<28} {row['seconds_mean']:8.3f} s/video (min {row['seconds_min']:.3f})  {memory}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--smoke", action="store_true", help="tiny components on CPU (checks the script)")
    args = parser.parse_args()

    from diffusers import TextToVideoSDPipeline
    from diffusers import __version__ as diffusers_version

    if args.smoke:
        device, dtype, size = torch.device("cpu"), torch.float32, 16
        components = tiny_base_components(seed=0)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device; use --smoke to check the script on CPU")
        device, dtype, size = torch.device("cuda"), torch.float16, 256
        start = time.perf_counter()
        components = full_base_components(device=device, dtype=dtype)
        print(f"built full-size random components in {time.perf_counter() - start:.1f} s", flush=True)
    for model in (components["unet"], components["text_encoder"], components["vae"]):
        model.to(device=device, dtype=dtype)
    condition = np.random.default_rng(0).integers(0, 256, (args.frames, size, size, 3), dtype=np.uint8)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"{device_name}: {dtype}, {args.frames} frames {size}x{size}, {args.steps} DDIM steps, "
        f"guidance {args.guidance}; torch {torch.__version__}, diffusers {diffusers_version}",
        flush=True,
    )
    rows = []

    # 1. The base text-to-video pipeline
    base = TextToVideoSDPipeline(**components)
    base.set_progress_bar_config(disable=True)

    def run_base(base=base):
        base(
            PROMPT,
            num_frames=args.frames,
            height=size,
            width=size,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            generator=torch.Generator(device).manual_seed(0),
            output_type="np",
        )

    with torch.inference_mode():
        rows.append(measure("TextToVideoSDPipeline", run_base, device, args.repeats))

    # 2. AMG on the same components (only its UNet on the GPU from here on)
    amg_unet = make_amg_unet(copy.deepcopy(components["unet"]))
    components["unet"].to("cpu")
    del run_base, base  # free the base pipeline before AMG's copy of the UNet moves in
    if device.type == "cuda":
        torch.cuda.empty_cache()
    amg = AMGPipeline(
        vae=components["vae"],
        text_encoder=components["text_encoder"],
        tokenizer=components["tokenizer"],
        unet=amg_unet,
        scheduler=release_scheduler(),
    )
    amg.set_progress_bar_config(disable=True)

    def run_amg():
        amg(
            PROMPT,
            condition,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            generator=torch.Generator().manual_seed(0),
            height=size,
            width=size,
        )

    with torch.inference_mode():
        rows.append(measure("AMGPipeline", run_amg, device, args.repeats))
    for layer in lora_layers(amg_unet):
        layer.merge()
    with torch.inference_mode():
        rows.append(measure("AMGPipeline, LoRA merged", run_amg, device, args.repeats))

    base_seconds = rows[0]["seconds_mean"]
    for row in rows[1:]:
        ratio = row["seconds_mean"] / base_seconds
        memory = f", peak memory {row['peak_gib'] / rows[0]['peak_gib']:.3f}x" if row["peak_gib"] else ""
        print(f"{row['name']}: {ratio:.3f}x the base pipeline's time{memory}")
    write_report(
        "gpu_amg",
        device_name,
        dtype,
        frames=args.frames,
        size=size,
        steps=args.steps,
        guidance=args.guidance,
        rows=rows,
    )


if __name__ == "__main__":
    main()
