"""How close the condition's colours are to the real people, flat versus appearance, and what measuring them costs.

On the demo sources (written here), for frames spread evenly over each source (none of them
the frames the palette is measured on, so the figure is not fitted to itself), each person's
visible pixels in the real frame are compared with the same pixels of the ``avatar_video``
render, once with the ``flat`` look and once with the ``appearance`` palette: the mean absolute
difference per channel, 0-255, over every visible person pixel.

Cost: measuring a source's palettes (decode the sampled frames, pose, rasterise, medians)
against the irreducible part of it measured in the same run, decoding those same frames.

    .venv/bin/python benchmarks/bench_control.py [--frames 24] [--resolution 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=24, help="Frames compared per source.")
    parser.add_argument("--resolution", type=int, default=256)
    args = parser.parse_args()

    from amg_bench.data.appearance import PALETTE_FRAMES, flat_palette, sample_frames, vertex_colors
    from amg_bench.data.body_model import load_body_model
    from amg_bench.data.builder import BuildConfig, source_intrinsics
    from amg_bench.data.demo import write_demo_sources
    from amg_bench.data.manifest import load_manifest
    from amg_bench.data.render import Camera, person_id_map, render_people
    from amg_bench.data.source_appearance import source_palettes
    from amg_bench.data.sources import load_source
    from amg_bench.video import center_crop_resize, read_frames

    body = load_body_model("mannequin")
    config = BuildConfig(resolution=args.resolution)
    differences = {"flat": [], "appearance": []}
    measure = decode = 0.0
    with tempfile.TemporaryDirectory(prefix="bench_control_") as tmp:
        manifest = write_demo_sources(Path(tmp), seed=0)
        for spec in load_manifest(manifest):
            source = load_source(spec, config.windows, body)
            motion = source.motion
            intrinsics = source_intrinsics(source, config)
            start = time.perf_counter()
            palettes = {"appearance": source_palettes(source, body, intrinsics, config.resolution, "appearance")}
            measure += time.perf_counter() - start
            palettes["flat"] = flat_palette(range(motion.num_people))
            picks = sample_frames(motion.valid, PALETTE_FRAMES)
            start = time.perf_counter()
            center_crop_resize(read_frames(spec.video, picks), config.resolution)
            decode += time.perf_counter() - start

            anyone = np.flatnonzero(motion.valid.any(axis=0))
            frames = np.setdiff1d(anyone[np.linspace(0, len(anyone) - 1, args.frames + 2).round().astype(int)], picks)
            real = center_crop_resize(read_frames(spec.video, frames), config.resolution)
            for frame, image in zip(frames, real):
                shown = [p for p in range(motion.num_people) if motion.valid[p, frame]]
                meshes = [
                    body.forward(motion.global_orient[p, frame][None], motion.body_pose[p, frame][None],
                                 motion.betas[p][None], motion.transl[p, frame][None])[0][0]
                    for p in shown
                ]  # fmt: skip
                camera = Camera(intrinsics, motion.extrinsics[frame], config.resolution, config.resolution)
                mask = person_id_map(meshes, body.faces, camera) >= 0
                if not mask.any():
                    continue
                for style, palette in palettes.items():
                    colours = [vertex_colors(palette[p], body.part_labels) for p in shown]
                    render = render_people(meshes, body.faces, camera, shown, vertex_colors=colours)
                    diff = np.abs(render.astype(int) - image.astype(int))[mask]
                    differences[style].append(diff)
    flat, look = (float(np.concatenate(differences[s]).mean()) for s in ("flat", "appearance"))
    pixels = sum(len(d) for d in differences["flat"])
    print(f"{pixels} person pixels over {len(differences['flat'])} frames at {args.resolution}px")
    print(f"mean |real - render| per channel (0-255): flat {flat:.1f}, appearance {look:.1f}")
    print(f"palette measurement {measure:.2f}s vs decoding its frames {decode:.2f}s: ratio {measure / decode:.2f}")


if __name__ == "__main__":
    main()
