"""A sharded run gives the one-process results exactly: ranks in-process (fast) and a real torchrun (gloo on CPU)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datasets_for_tests import save_tiny_clip, write_tiny_dataset

from amg_bench.evaluation.protocols import protocol_scoring
from amg_bench.evaluation.runner import EvaluationConfig, evaluate

GRID, SIZE = 5, 64


def _drop_created(path: Path) -> dict:
    results = json.loads(path.read_text())
    assert results.pop("created")
    return results


class FakeRank:
    """The part of ``accelerate.PartialState`` the runner uses, for rank ``index`` of ``count``.

    Ranks run one after another in this process, so waiting for everyone is a no-op: run the
    other ranks first and the main one last, and the main one finds their records to merge.
    """

    def __init__(self, index: int, count: int) -> None:
        self.process_index, self.num_processes = index, count
        self.is_main_process = index == 0
        self.device = "cpu"

    def wait_for_everyone(self) -> None:
        pass

    @contextlib.contextmanager
    def main_process_first(self):
        yield


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharding")
    dataset = write_tiny_dataset(root / "ds", num_clips=5, size=SIZE)
    clip = save_tiny_clip(root / "clip")
    scoring = protocol_scoring("offline", grid_size=GRID, eval_size=(SIZE, SIZE), clip_model=clip)
    single = evaluate(EvaluationConfig(method="ground-truth", dataset=str(dataset), out=root / "one",
                                       cache_dir=root / "cache-one", scoring=scoring, protocol="offline",
                                       device="cpu", progress=False))  # fmt: skip
    assert single.processed == 5
    return {"root": root, "dataset": dataset, "clip": clip, "scoring": scoring, "single": single}


def test_ranks_split_the_clips_and_the_main_one_merges_them(world, tmp_path):
    def config():
        return EvaluationConfig(method="ground-truth", dataset=str(world["dataset"]), out=tmp_path / "three",
                                cache_dir=tmp_path / "cache", scoring=world["scoring"], protocol="offline",
                                device="cpu", progress=False)  # fmt: skip

    shares = [evaluate(config(), FakeRank(rank, 3)) for rank in (2, 1)]
    main = evaluate(config(), FakeRank(0, 3))
    clips = list(world["single"].results.clips)
    assert [s.processed for s in shares] == [1, 2] and main.processed == 2  # clips[r::3]
    assert not shares[0].main_process and main.main_process
    assert sorted(p.stem for p in (tmp_path / "three" / "scores").glob("*.json")) == clips
    one = world["root"] / "one"
    assert _drop_created(tmp_path / "three" / "results.json") == _drop_created(one / "results.json")
    assert (tmp_path / "three" / "scores.jsonl").read_bytes() == (one / "scores.jsonl").read_bytes()


@pytest.mark.slow
def test_two_processes_equal_one(world, tmp_path):
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node", "2", str(bin_dir / "amg-bench"),
        "evaluate", "--method", "ground-truth", "--dataset", str(world["dataset"]), "--out", str(tmp_path / "two"),
        "--cache-dir", str(tmp_path / "cache-two"), "--protocol", "offline", "--grid-size", str(GRID),
        "--eval-size", f"{SIZE}x{SIZE}", "--clip-model", world["clip"], "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # the main process scored its share only: 3 of the 5 clips (clips[0::2]); rank 1 did the other 2
    assert "5 clips; 0 already finished, 3 processed now" in done.stdout
    assert done.stdout.count("results:") == 1  # one summary, from the main process

    one = world["root"] / "one"
    assert _drop_created(tmp_path / "two" / "results.json") == _drop_created(one / "results.json")
    assert (tmp_path / "two" / "scores.jsonl").read_bytes() == (one / "scores.jsonl").read_bytes()
    videos = sorted(p.name for p in (tmp_path / "two" / "videos").glob("*.mp4"))
    assert videos == [f"{c}.mp4" for c in world["single"].results.clips]
