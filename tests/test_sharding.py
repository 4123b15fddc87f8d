"""A run sharded over two processes (torchrun, gloo on CPU) gives the one-process results exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from datasets_for_tests import save_tiny_clip, write_tiny_dataset

from amg_bench.evaluation.runner import EvaluationConfig, evaluate
from amg_bench.evaluation.scoring import ScoringSettings

GRID, SIZE = 5, 64


def _drop_created(path: Path) -> dict:
    results = json.loads(path.read_text())
    assert results.pop("created")
    return results


def test_two_processes_equal_one(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "ds", num_clips=5, size=SIZE)
    clip = save_tiny_clip(tmp_path / "clip")
    scoring = ScoringSettings(grid_size=GRID, eval_size=(SIZE, SIZE), clip_model=clip)
    single = evaluate(
        EvaluationConfig(
            method="ground-truth",
            dataset=str(dataset),
            out=tmp_path / "one",
            cache_dir=tmp_path / "cache-one",
            scoring=scoring,
            device="cpu",
            progress=False,
        )
    )
    assert single.processed == 5

    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "torchrun"),
        "--standalone",
        "--nproc_per_node",
        "2",
        str(bin_dir / "amg-bench"),
        "evaluate",
        "--method",
        "ground-truth",
        "--dataset",
        str(dataset),
        "--out",
        str(tmp_path / "two"),
        "--cache-dir",
        str(tmp_path / "cache-two"),
        "--grid-size",
        str(GRID),
        "--eval-size",
        f"{SIZE}x{SIZE}",
        "--clip-model",
        clip,
        "--device",
        "cpu",
        "--no-progress",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # the main process scored its share only: 3 of the 5 clips (clips[0::2]); rank 1 did the other 2
    assert "5 clips; 0 already finished, 3 processed now" in done.stdout
    assert done.stdout.count("results:") == 1  # one summary, from the main process

    assert _drop_created(tmp_path / "two" / "results.json") == _drop_created(tmp_path / "one" / "results.json")
    assert (tmp_path / "two" / "scores.jsonl").read_bytes() == (tmp_path / "one" / "scores.jsonl").read_bytes()
    videos = sorted(p.name for p in (tmp_path / "two" / "videos").glob("*.mp4"))
    assert videos == [f"{c}.mp4" for c in single.results["clips"]]
