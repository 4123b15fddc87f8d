"""Dataset build benchmark: clips/s, renders per frame, flat memory, overhead over the floor.

Usage: ``.venv/bin/python benchmarks/bench_build.py``

For two source lengths (about 4x apart in clips) it builds a dataset in a child process and
reports: clips per second, renders per needed source frame (must be 1: a frame shared by 16
windows is rendered once), and the child's peak RSS (must stay flat as clips grow). For the
larger one it then times the irreducible work on the same frames in this process - decoding the
source, rendering each needed frame once, encoding every clip's real and avatar videos - and
prints the build's total time as a ratio of that floor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from amg_bench.data.body_model import load_body_model
from amg_bench.data.builder import cropped_intrinsics
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.demo_motion import Leg, PersonScript, SceneScript
from amg_bench.data.motion import load_motion
from amg_bench.data.render import Camera, render_people
from amg_bench.data.windows import WindowSpec, needed_frames, valid_starts
from amg_bench.video import center_crop_resize, encode_mp4, iter_frames

CHILD = """
import json, resource, sys, time
import av, cv2, datasets, pyarrow.parquet, smplx, torch  # one-off imports are not build time
from amg_bench.data.builder import BuildConfig, build_dataset
manifest, out, train = sys.argv[1], sys.argv[2], int(sys.argv[3])
report = build_dataset(manifest, out, BuildConfig(train_size=train), progress=False)
print(json.dumps({"clips": sum(report.splits.values()), "seconds": report.seconds,
                  "renders": report.renders, "needed": report.needed_frames,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def scene(num_frames: int) -> SceneScript:
    """Two people pacing back and forth in view for ``num_frames`` frames."""
    legs_a, legs_b, here_a, here_b = [], [], (-1.5, 1.0), (1.5, 0.5)
    for end in range(60, num_frames + 60, 60):
        here_a = (1.5, 1.0) if here_a[0] < 0 else (-1.5, 1.0)
        here_b = (-1.5, 0.5) if here_b[0] > 0 else (1.5, 0.5)
        legs_a.append(Leg(min(end, num_frames - 1), here_a))
        legs_b.append(Leg(min(end, num_frames - 1), here_b))
    return SceneScript(
        f"bench{num_frames}",
        num_frames,
        "a benchmark yard",
        "neutral",
        (
            PersonScript("person0", (-1.5, 1.0), tuple(legs_a), shirt="red", trousers="grey"),
            PersonScript("person1", (1.5, 0.5), tuple(legs_b), shirt="blue", trousers="black"),
        ),
        ((0, "two people pace"),),
    )


def build_in_child(manifest: Path, out: Path) -> dict:
    motion = load_motion(manifest.parent / f"{manifest.parent.name}.npz")
    windows = len(valid_starts(motion.valid, motion.num_frames))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(manifest), str(out), str(windows - 8)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def floor_seconds(manifest: Path) -> dict:
    """Time decode + crop, one render per needed frame, and encoding of every clip's two videos."""
    folder = manifest.parent
    motion = load_motion(folder / f"{folder.name}.npz")
    spec = WindowSpec()
    starts = valid_starts(motion.valid, motion.num_frames, spec)
    needed = set(needed_frames(starts, spec).tolist())
    body = load_body_model()
    k = cropped_intrinsics(motion.intrinsics, *motion.image_size, 256)

    started = time.perf_counter()
    real = {
        i: center_crop_resize(f[None], 256)[0]
        for i, f in enumerate(iter_frames(folder / f"{folder.name}.mp4"))
        if i in needed
    }
    decode = time.perf_counter() - started

    started = time.perf_counter()
    avatar = {}
    for i in sorted(needed):
        people = np.flatnonzero(motion.valid[:, i])
        vertices, _ = body.forward(
            motion.global_orient[people, i], motion.body_pose[people, i], motion.betas[people], motion.transl[people, i]
        )
        avatar[i] = render_people(list(vertices), body.faces, Camera(k, motion.extrinsics[i], 256, 256), list(people))
    render = time.perf_counter() - started

    started = time.perf_counter()
    for start in starts:
        frames = spec.sampled_frames(start)
        encode_mp4(np.stack([real[f] for f in frames]), 8)
        encode_mp4(np.stack([avatar[f] for f in frames]), 8)
    encode = time.perf_counter() - started
    return {"decode": decode, "render": render, "encode": encode, "total": decode + render + encode}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for frames in (120, 360):
            folder = Path(tmp) / f"bench{frames}"
            folder.mkdir()
            manifest = write_demo_sources(folder, seed=0, scenes=[scene(frames)])
            result = build_in_child(manifest, Path(tmp) / f"out{frames}")
            rows.append((frames, manifest, result))
        print(f"{'source frames':>13} {'clips':>6} {'clips/s':>8} {'renders/frame':>13} {'peak RSS MB':>11}")
        for frames, _, r in rows:
            print(
                f"{frames:>13} {r['clips']:>6} {r['clips'] / r['seconds']:>8.2f} "
                f"{r['renders'] / r['needed']:>13.2f} {r['peak_rss_mb']:>11.0f}"
            )
        small, large = rows[0][2], rows[1][2]
        print(
            f"peak memory ratio (large / small, {large['clips'] / small['clips']:.1f}x clips): "
            f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}"
        )
        floor = floor_seconds(rows[1][1])
        print(
            f"floor for {large['clips']} clips: decode {floor['decode']:.1f}s + render {floor['render']:.1f}s + "
            f"encode {floor['encode']:.1f}s = {floor['total']:.1f}s"
        )
        print(f"build time {large['seconds']:.1f}s = {large['seconds'] / floor['total']:.2f}x the floor")


if __name__ == "__main__":
    main()
