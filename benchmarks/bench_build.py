"""Dataset build benchmark: clips/s, renders per frame, flat memory, overhead over the floor.

Usage: ``.venv/bin/python benchmarks/bench_build.py [--num-proc 1,2] [--sweep-sources 4] [--sweep-frames 200]``

For two source lengths (about 4x apart in clips) it builds a dataset in a child process and
reports: clips per second, renders per needed source frame (must be 1: a frame shared by 16
windows is rendered once), and the child's peak RSS (must stay flat as clips grow). For the
larger one it then times the irreducible work on the same frames in this process - decoding the
source, rendering each needed frame once, encoding every clip's real and avatar videos - and
prints the build's total time as a ratio of that floor.

The ``--num-proc`` sweep builds one corpus (``--sweep-sources`` sources) with each process
count, in a fresh child process each (so worker start-up is part of the time), and prints
clips/s, the speed-up over one process, the parallel efficiency (speed-up / processes; the goal
is 1.8x at two) and whether the output is identical (same fingerprint, rows and shard layout).
The machine's cores may be shared: the figures are what this run measured.
"""

from __future__ import annotations

import argparse
import json
import os
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
if __name__ == "__main__":
    manifest, out, train, num_proc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    report = build_dataset(manifest, out, BuildConfig(train_size=train), progress=False, num_proc=num_proc)
    print(json.dumps({"clips": sum(report.splits.values()), "seconds": report.seconds,
                      "renders": report.renders, "needed": report.needed_frames,
                      "fingerprint": report.fingerprint, "units": report.units_built,
                      "unit_seconds": report.unit_seconds, "unit_cpu_seconds": report.unit_cpu_seconds,
                      "load": __import__("os").getloadavg()[0],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def scene(num_frames: int, name: str | None = None) -> SceneScript:
    """Two people pacing back and forth in view for ``num_frames`` frames."""
    legs_a, legs_b, here_a, here_b = [], [], (-1.5, 1.0), (1.5, 0.5)
    for end in range(60, num_frames + 60, 60):
        here_a = (1.5, 1.0) if here_a[0] < 0 else (-1.5, 1.0)
        here_b = (-1.5, 0.5) if here_b[0] > 0 else (1.5, 0.5)
        legs_a.append(Leg(min(end, num_frames - 1), here_a))
        legs_b.append(Leg(min(end, num_frames - 1), here_b))
    return SceneScript(
        name or f"bench{num_frames}",
        num_frames,
        "a benchmark yard",
        "neutral",
        (
            PersonScript("person0", (-1.5, 1.0), tuple(legs_a), shirt="red", trousers="grey"),
            PersonScript("person1", (1.5, 0.5), tuple(legs_b), shirt="blue", trousers="black"),
        ),
        ((0, "two people pace"),),
    )


def build_in_child(manifest: Path, out: Path, num_proc: int = 1, train: int | None = None) -> dict:
    if train is None:
        motion = load_motion(manifest.parent / f"{manifest.parent.name}.npz")
        train = len(valid_starts(motion.valid, motion.num_frames)) - 8
    script = out.parent / f"{out.name}_child.py"  # a file, so spawned workers can import the parent's __main__
    script.write_text(CHILD)
    result = subprocess.run(
        [sys.executable, str(script), str(manifest), str(out), str(train), str(num_proc)],
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


def same_output(a: Path, b: Path) -> bool:
    """Same shard layout and the same non-video values in every row (the fingerprint covers the frames)."""
    import pyarrow.parquet as pq

    names = sorted(p.name for p in (a / "data").iterdir())
    if names != sorted(p.name for p in (b / "data").iterdir()):
        return False
    for name in names:
        columns = [c for c in pq.read_schema(a / "data" / name).names if not c.endswith("video")]
        if pq.read_table(a / "data" / name, columns=columns) != pq.read_table(b / "data" / name, columns=columns):
            return False
    return True


STARTUP = """
import sys, time
from concurrent.futures import ProcessPoolExecutor
from amg_bench.data.builder import _OneThreadEnv, _worker_context, _worker_init
def ready(_):
    return time.perf_counter()
if __name__ == "__main__":
    count = int(sys.argv[1])
    started = time.perf_counter()
    with _OneThreadEnv(), ProcessPoolExecutor(count, _worker_context(), _worker_init) as pool:
        print(max(pool.map(ready, range(count))) - started)
"""


def worker_startup(tmp: Path, count: int) -> float:
    """Seconds from creating the build's worker pool (the same context and initializer) to all ``count`` ready."""
    script = tmp / "startup_child.py"
    script.write_text(STARTUP)
    result = subprocess.run([sys.executable, str(script), str(count)], check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


def sweep(tmp: Path, counts: list[int], sources: int, frames: int) -> None:
    """Build one corpus of ``sources`` sources with each process count; print clips/s and efficiency."""
    folder = tmp / "sweep_sources"
    folder.mkdir()
    manifest = write_demo_sources(folder, seed=0, scenes=[scene(frames, f"film_{i}") for i in range(sources)])
    windows = sum(
        len(valid_starts(m.valid, m.num_frames))
        for m in (load_motion(folder / f"film_{i}.npz") for i in range(sources))
    )
    results = {}
    for count in counts:
        results[count] = build_in_child(manifest, tmp / f"sweep{count}", count, train=windows - 8)
    base = results[counts[0]]
    print(
        f"\n--num-proc sweep: {sources} sources x {frames} frames, {base['clips']} clips, {base['units']} units, "
        f"{os.cpu_count()} CPUs seen"
    )
    print(
        f"{'processes':>9} {'seconds':>8} {'clips/s':>8} {'speed-up':>8} {'efficiency':>10} "
        f"{'CPU s/clip':>10} {'load':>5} {'identical':>9}"
    )
    for count, r in results.items():
        speedup = base["seconds"] / r["seconds"] * counts[0]  # over one process, when counts[0] is 1
        identical = r["fingerprint"] == base["fingerprint"] and same_output(
            tmp / f"sweep{counts[0]}", tmp / f"sweep{count}"
        )
        print(
            f"{count:>9} {r['seconds']:>8.1f} {r['clips'] / r['seconds']:>8.2f} {speedup:>7.2f}x "
            f"{speedup / count:>10.2f} {r['unit_cpu_seconds'] / r['clips']:>10.3f} {r['load']:>5.1f} "
            f"{'yes' if identical else 'NO':>9}"
        )
    print(
        "CPU s/clip: CPU time of the workers' units per clip (equal across rows: no work added by parallelism); "
        "load: the 1-minute load average when the build ended (other processes on the same cores)"
    )
    for count in counts:
        if count == 1:
            continue
        startup = worker_startup(tmp, count)
        one, many = base["unit_cpu_seconds"], results[count]["unit_cpu_seconds"]
        print(
            f"{count} processes on {count} cores of their own: one process needs its units' {one:.1f} CPU-s, "
            f"{count} need start-up {startup:.1f}s (measured now) + {many:.1f} CPU-s / {count} = "
            f"{startup + many / count:.1f}s: {one / (startup + many / count):.2f}x "
            "(a bound from CPU time measured here, not a measured speed-up)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-proc", default="1,2", help="comma-separated process counts of the sweep ('' skips it)")
    parser.add_argument("--sweep-sources", type=int, default=4, help="sources of the sweep's corpus")
    parser.add_argument("--sweep-frames", type=int, default=200, help="frames per sweep source")
    parser.add_argument("--sweep-only", action="store_true", help="skip the memory and floor measurements")
    args = parser.parse_args()
    counts = [int(c) for c in args.num_proc.split(",") if c.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.sweep_only:
            measure_build(Path(tmp))
        if counts:
            sweep(Path(tmp), counts, args.sweep_sources, args.sweep_frames)


def measure_build(tmp: Path) -> None:
    rows = []
    for frames in (120, 360):
        folder = tmp / f"bench{frames}"
        folder.mkdir()
        manifest = write_demo_sources(folder, seed=0, scenes=[scene(frames)])
        result = build_in_child(manifest, tmp / f"out{frames}")
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
