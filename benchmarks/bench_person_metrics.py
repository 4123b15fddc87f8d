"""Per-clip cost of the person metrics (identity + pose) against the bare model forwards on the same inputs.

Runs on the demo dataset's test clips (built here when ``--dataset`` is not given). The person
metrics render each clip's masks, crop and embed every visible person (DINOv2) and find their
keypoints in the real and the generated frames (VitPose). The irreducible work measured in the same
run is the two models' forwards on exactly the tensors the metrics feed them (preprocessed once, up
front), so the ratio is what masks, crops, boxes, pre/post-processing and the scoring maths cost.
Goal: <= 1.3x.

The models are random-weight checkpoints in the real folder layout at the real architectures'
sizes (``--size small``: DINOv2-small and VitPose-base), since no weights can be downloaded here:
the compute is the real one, the numbers are not.

    .venv/bin/python benchmarks/bench_person_metrics.py [--dataset DIR] [--limit 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def save_models(folder: Path) -> tuple[str, str]:
    """DINOv2-small and VitPose-base architectures with random weights, saved as from_pretrained folders."""
    from transformers import (
        BitImageProcessor,
        Dinov2Config,
        Dinov2Model,
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    torch.manual_seed(0)
    dino = folder / "dinov2-small"
    Dinov2Model(Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                             patch_size=14, image_size=518)).eval().save_pretrained(dino)  # fmt: skip
    BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(dino)  # fmt: skip
    pose = folder / "vitpose-base"
    backbone = VitPoseBackboneConfig(out_features=["stage12"])  # ViT-B/16 at 256x192, the simple decoder
    VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=17)).eval().save_pretrained(pose)
    VitPoseImageProcessor(size={"height": 256, "width": 192}).save_pretrained(pose)
    return str(dino), str(pose)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default=None, help="Built dataset folder [default: build the demo dataset].")
    parser.add_argument("--limit", type=int, default=6, help="Test clips to score.")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from amg_bench.data.hub import video_cell_bytes
    from amg_bench.evaluation.dataset import open_split
    from amg_bench.evaluation.protocols import protocol_scoring
    from amg_bench.evaluation.scoring import MetricSuite
    from amg_bench.metrics.functional.person_metrics import masked_crop
    from amg_bench.video import read_video

    with tempfile.TemporaryDirectory(prefix="bench_person_") as tmp:
        tmp = Path(tmp)
        dataset = args.dataset
        if dataset is None:
            from amg_bench.data.demo import build_demo_dataset

            dataset = str(build_demo_dataset(tmp / "demo", progress=False).folder)
        dino, pose = save_models(tmp)
        split = open_split(dataset, "test")
        clips = split.clip_ids[: args.limit]
        rows = [split.row(c) for c in clips]
        videos = [read_video(video_cell_bytes(row["video"], row["clip_id"])) for row in rows]
        settings = protocol_scoring("offline", metrics=("identity", "pose"), identity_model=dino, pose_model=pose)

        # Warm-up outside every timing: model loading, first-call kernels, the regions cache of each clip.
        suite = MetricSuite(settings, "cpu", cache_root=tmp / "cache")
        suite.score(videos[0], videos[0], rows[0])
        for row in rows:
            suite.regions.regions(row, *videos[0].shape[1:3])

        # The metrics, end to end per clip (real keypoints recomputed each time: a cold reference cache).
        start = time.perf_counter()
        for row, video in zip(rows, videos):
            suite.reference_pose.cache.folder = tmp / "cold" / row["clip_id"]
            suite.score(video, video, row)
        metrics = time.perf_counter() - start

        # The bare forwards on the same model inputs, preprocessed before the clock starts.
        dino_inputs, pose_inputs = [], []
        fill = tuple(round(255 * m) for m in suite.embedder.processor.image_mean)
        for row, video in zip(rows, videos):
            regions = suite.regions.regions(row, *video.shape[1:3])
            kept = regions.areas() >= settings.person_min_area * video.shape[1] * video.shape[2]
            boxes = regions.boxes()
            jobs = list(zip(*np.nonzero(kept)))
            crops = [masked_crop(video[t], regions.masks[p, t], boxes[p, t], fill) for p, t in jobs]
            dino_inputs.append(suite.embedder.processor(images=crops, return_tensors="pt")["pixel_values"])
            coco = [[[float(b[0]), float(b[1]), float(b[2] - b[0] + 1), float(b[3] - b[1] + 1)]]
                    for b in (boxes[p, t] for p, t in jobs)]  # fmt: skip
            pose_inputs.append(suite.pose.processor(images=[video[t] for _, t in jobs], boxes=coco,
                                                    return_tensors="pt")["pixel_values"])  # fmt: skip
        start = time.perf_counter()
        with torch.inference_mode():
            for pixels in dino_inputs:
                for chunk in pixels.split(suite.embedder.batch_size):
                    suite.embedder.network(pixel_values=chunk)
            for pixels in pose_inputs:
                for _ in range(2):  # real and generated frames
                    for chunk in pixels.split(suite.pose.batch_size):
                        suite.pose.network(pixel_values=chunk)
        bare = time.perf_counter() - start

        crops = sum(len(p) for p in dino_inputs)
        print(f"{len(clips)} clips of {dataset}, {crops} person crops; {torch.get_num_threads()} torch threads")
        print(
            f"person metrics end to end: {metrics:.2f}s ({metrics / len(clips):.2f}s per clip); bare forwards: "
            f"{bare:.2f}s; ratio {metrics / bare:.3f} (goal <= 1.3)"
        )
        print(
            "stage times incl. the warm-up clip (s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(suite.watch.seconds.items()))
        )


if __name__ == "__main__":
    main()
