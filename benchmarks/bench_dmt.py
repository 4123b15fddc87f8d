"""Overhead of the ``dmt`` method's ``generate()`` over the same algorithm written as raw diffusers calls.

Both run the same tiny random ZeroScope components (saved and re-loaded through the real paths):
``generate()`` through :class:`DMTPipeline`, and :func:`raw_dmt`, the release's ``run.py`` and
``preprocess_video_ddim.py`` written out on the bare UNet / VAE / text encoder / scheduler (its own
hooks, the release's identity pass-through of the later up blocks and its per-anchor loss loop,
every inverted latent kept, as the release writes them all). The raw run is the irreducible work,
so the ratio is what the method and pipeline structure cost. Goal: <= 1.05x. The two outputs are
compared as a check that the pipeline is the release's algorithm: equal up to float rounding (the
loss sums in another order, and Adam's normalised step carries such differences along).

It also measures the memory the inverted latents hold: the ones ``DMTPipeline`` keeps (guided
timesteps and the last) against all of them, and projects both to ZeroScope's 16 x 576 x 320.

    .venv/bin/python benchmarks/bench_dmt.py [--repeats 1] [--threads 1] [--steps 10] [--inversion-steps 100]

The release's counts are ``--steps 50 --inversion-steps 999`` (about ten times longer).
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
import torch.nn.functional as F
from zeroscope_for_tests import save_zeroscope_folder

from amg_bench.methods.base import GenerationRequest
from amg_bench.methods.dmt import DMT

FRAMES, HEIGHT, WIDTH = 16, 16, 24  # tiny VAE: 8 x 12 latents


def seconds(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``fn()`` (CPU time is what counts on shared cores)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def raw_dmt(pipe, video, target, source, negative, opts, generator) -> np.ndarray:
    """The release's algorithm on bare diffusers components (uint8 frames at the working size)."""
    from diffusers import DDIMScheduler
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
    from PIL import Image

    unet, vae, tokenizer, text_encoder = pipe.unet, pipe.vae, pipe.tokenizer, pipe.text_encoder
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    n_steps = opts.num_inference_steps

    tokens = tokenizer(
        [source, target, negative],
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        source_embeds, target_embeds, negative_embeds = text_encoder(tokens.input_ids)[0].chunk(3)
    # video -> latents: PIL resize, [-1, 1], per-frame VAE, two posterior samples
    frames = np.stack([np.asarray(Image.fromarray(f).resize((opts.width, opts.height))) for f in video])
    pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().float() / 255.0 * 2.0 - 1.0
    with torch.no_grad():
        moments = torch.cat([vae.encode(f[None]).latent_dist.parameters for f in pixels])
    posterior = DiagonalGaussianDistribution(moments)
    scale = vae.config.scaling_factor
    x0_inv = (posterior.sample(generator) * scale).permute(1, 0, 2, 3)[None]
    x0 = (posterior.sample(generator) * scale).permute(1, 0, 2, 3)[None]
    # DDIM inversion, every latent kept (the release writes them all to disk)
    scheduler.set_timesteps(opts.inversion_steps)
    alphas = scheduler.alphas_cumprod.double()
    inverted, latent, alpha_prev = {}, x0_inv, float(scheduler.final_alpha_cumprod)
    with torch.no_grad():
        for t in scheduler.timesteps.flip(0).tolist():
            eps = unet(latent, t, encoder_hidden_states=source_embeds).sample
            alpha = float(alphas[t])
            pred_x0 = (latent - (1 - alpha_prev) ** 0.5 * eps) / alpha_prev**0.5
            latent = alpha**0.5 * pred_x0 + (1 - alpha) ** 0.5 * eps
            inverted[t], alpha_prev = latent, alpha
    noisest = max(inverted)
    # sampling schedule (get_timesteps) and learning rates
    scheduler.set_timesteps(n_steps)
    all_t = scheduler.timesteps.tolist()
    start = n_steps - min(int(n_steps * opts.max_guidance_timestep), n_steps)
    end = int(n_steps * opts.min_guidance_timestep)
    timesteps = all_t[start:]
    guided = all_t[start:-end] if end > 0 else all_t[start:]
    rates = np.linspace(*opts.lr_range, len(guided))
    # initial latent: re-expressed at timesteps[0], low band kept, high band from noise
    a_T, a_s = float(alphas[noisest]), float(alphas[timesteps[0]])
    eps = (inverted[noisest] - a_T**0.5 * x0) / (1 - a_T) ** 0.5
    x = a_s**0.5 * x0 + (1 - a_s) ** 0.5 * eps
    noise = torch.randn(x.shape, generator=generator)

    def low(z):
        b, c, f, h, w = z.shape
        flat = z.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        kw = dict(mode="bilinear", align_corners=True, antialias=True)
        up = F.interpolate(
            F.interpolate(flat, size=(h // opts.downsample_factor, w // opts.downsample_factor), **kw), (h, w), **kw
        )
        return up.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)

    x = low(x) + (noise - low(noise))  # low_freqs + high_freqs

    # features: hooks on up block 1; later blocks and output layers passed through (the release's change_mode)
    block = unet.up_blocks[1]
    modules = [block.resnets[1].conv2, block.temp_convs[1], block.upsamplers[0]]
    saved = {}
    handles = [m.register_forward_hook(lambda m, a, out, i=i: saved.__setitem__(i, out)) for i, m in enumerate(modules)]
    skipped = [*unet.up_blocks[2:], unet.conv_norm_out, unet.conv_act, unet.conv_out]

    def features(z, t, text):
        originals = [m.forward for m in skipped]
        for m in skipped:
            m.forward = lambda *a, **k: k["hidden_states"] if not a else a[0]
        try:
            unet(z, t, encoder_hidden_states=text)
        finally:
            for m, forward in zip(skipped, originals):
                m.forward = forward
        return [saved[i].unflatten(0, (-1, z.shape[2]))[0].float() for i in range(3)]

    def loss_of(src, tgt):
        total = 0
        for s, g in zip(src, tgt):
            s, g = s.mean(dim=(2, 3)), g.mean(dim=(2, 3))
            per_anchor = [1 - F.cosine_similarity(g - g[i], s - s[i], dim=1).mean() for i in range(len(s))]
            total = total + sum(per_anchor) / len(s)
        return total

    def denoise(z, t):
        with torch.no_grad():
            out = unet(torch.cat([z, z]), t, encoder_hidden_states=torch.cat([target_embeds, negative_embeds])).sample
        cond, uncond = out.chunk(2)
        return scheduler.step(uncond + opts.guidance_scale * (cond - uncond), t, z).prev_sample

    interval = scheduler.config.num_train_timesteps // n_steps
    for i, t in enumerate(timesteps):
        if t in guided:
            with torch.no_grad():
                src = features(inverted[t], t, source_embeds)
            x = x.detach().clone().requires_grad_(True)
            optimizer = torch.optim.Adam([x], lr=float(rates[i]))
            for _ in range(opts.optimization_steps):
                optimizer.zero_grad()
                loss_of(src, features(x, t, target_embeds)).backward()
                optimizer.step()
            x = x.detach()
        x = denoise(x, t)
        if opts.restart_sampling and i < len(timesteps) - 1:
            for k in range(interval):
                beta = float(scheduler.betas[timesteps[i + 1] + k])
                x = (1 - beta) ** 0.5 * x + beta**0.5 * torch.randn(x.shape, generator=generator)
            x = denoise(x, t)
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        images = torch.cat([vae.decode(f[None] / scale).sample for f in x[0].permute(1, 0, 2, 3)])
    return ((images * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8), inverted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=10, help="sampling steps (release: 50)")
    parser.add_argument("--inversion-steps", type=int, default=100, help="inversion steps (release: 999)")
    parser.add_argument("--optimization-steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        folder = save_zeroscope_folder(Path(tmp) / "zeroscope_v2_576w", seed=0)
        method = DMT(
            model=str(folder),
            device="cpu",
            num_inference_steps=args.steps,
            inversion_steps=args.inversion_steps,
            optimization_steps=args.optimization_steps,
            height=HEIGHT,
            width=WIDTH,
        )
        pipe, opts = method.pipeline, method.options
        condition = np.random.default_rng(0).integers(0, 256, (FRAMES, 256, 256, 3), dtype=np.uint8)
        request = GenerationRequest(
            clip_id="bench", prompt="a man walks in a park", condition=condition, height=HEIGHT, width=WIDTH, seed=0
        )
        source, target = method.prompts(request)
        outputs = {}

        def raw():
            outputs["raw"], outputs["inverted"] = raw_dmt(
                pipe, condition, target, source, opts.negative_prompt, opts, torch.Generator().manual_seed(0)
            )

        def generate():
            outputs["generate"] = method.generate(request)

        # interleaved, so both see the same drift in machine load
        raw_times, method_times = [], []
        for _ in range(args.repeats):
            raw_times.append(seconds(raw))
            method_times.append(seconds(generate))

        # memory the inverted latents hold: DMTPipeline's kept set against every one
        clean = torch.randn(1, 4, FRAMES, HEIGHT // 2, WIDTH // 2, generator=torch.Generator().manual_seed(1))
        text = pipe.encode_prompt([source], pipe.device)
        pipe.scheduler.set_timesteps(args.steps)
        from amg_bench.methods.dmt.schedule import guidance_split

        _, guided = guidance_split(
            pipe.scheduler.timesteps.tolist(), opts.max_guidance_timestep, opts.min_guidance_timestep
        )
        kept = pipe.invert(clean, text, args.inversion_steps, keep=guided)
        every = pipe.invert(clean, text, args.inversion_steps, keep=None)

    r, m = (statistics.median(t[1] for t in times) for times in (raw_times, method_times))
    r_wall, m_wall = (statistics.median(t[0] for t in times) for times in (raw_times, method_times))
    diff = np.abs(outputs["raw"].astype(int) - outputs["generate"])
    print(
        f"tiny ZeroScope components, {FRAMES} frames {WIDTH}x{HEIGHT}, {args.steps} DDIM steps ({len(guided)} guided x "
        f"{args.optimization_steps} Adam steps), {args.inversion_steps} inversion steps, CPU threads {args.threads}"
    )
    print(f"  raw diffusers calls (irreducible): {r:8.2f} CPU s ({r_wall:.2f} s wall)   (median of {args.repeats})")
    print(f"  generate():                        {m:8.2f} CPU s ({m_wall:.2f} s wall)")
    print(f"  overhead ratio: {m / r:.3f}x CPU time, {m_wall / r_wall:.3f}x wall  (goal <= 1.05x)")
    print(
        f"  outputs: max |raw - generate()| = {diff.max()}/255, {100 * (diff > 0).mean():.3f}% of values differ "
        "(float summation order of the vectorised loss vs the release's loop; 0 without guidance)"
    )
    latent_bytes = every.nbytes() // len(every.latents)
    print(
        f"  inverted latents held: kept {len(kept.latents)} = {kept.nbytes() / 2**20:.2f} MiB, every one "
        f"{len(every.latents)} = {every.nbytes() / 2**20:.2f} MiB ({every.nbytes() / kept.nbytes():.1f}x); "
        f"{latent_bytes} bytes each"
    )
    full = 4 * 16 * 40 * 72 * 4  # one float32 ZeroScope latent of 16 frames at 576x320
    print(
        f"  at 16 x 576 x 320 with the release's counts: kept 21 = {21 * full / 2**20:.1f} MiB, "
        f"every one 999 = {999 * full / 2**20:.1f} MiB (float32; the release's float16 files are half that)"
    )


if __name__ == "__main__":
    main()
