"""The evaluation runner end to end on a tiny built dataset, a tiny random CLIP and KLT on a 5x5 grid."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from datasets_for_tests import save_tiny_clip, write_tiny_dataset

import amg_bench.evaluation.runner as runner_module
from amg_bench.cli import main
from amg_bench.errors import DatasetError, MethodError, OutputExistsError
from amg_bench.evaluation.dataset import clip_seed, open_split, select_clips
from amg_bench.evaluation.run_folder import RunFolder
from amg_bench.evaluation.runner import EvaluationConfig, evaluate
from amg_bench.evaluation.scoring import ScoringSettings
from amg_bench.leaderboard.results import load_results
from amg_bench.methods.base import Method
from amg_bench.methods.reference import GroundTruth
from amg_bench.metrics.trackers.klt import KLTTracker
from amg_bench.video import read_video

TESTS_DIR = Path(__file__).parent
GRID = 5
SIZE = 64


class NeedsPose(Method):
    name = "needs-pose"
    requires = frozenset({"pose", "reference_frame"})

    def generate(self, request):
        raise AssertionError("must not be called: the dataset has no pose_video column")


class _Killed(BaseException):
    """Stands for the process dying at this point (not caught by the runner's ``except Exception``)."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    dataset = write_tiny_dataset(root / "ds", num_clips=4, size=SIZE)
    return {"dataset": str(dataset), "clip": save_tiny_clip(root / "clip"), "root": root}


def _config(tiny, out, cache, method="ground-truth", metrics=("clip", "motion"), **kwargs) -> EvaluationConfig:
    scoring = ScoringSettings(
        metrics=metrics,
        grid_size=kwargs.pop("grid_size", GRID),
        eval_size=(SIZE, SIZE),
        clip_model=tiny["clip"],
        clip_pretrained=None,
    )
    return EvaluationConfig(
        method=method, dataset=tiny["dataset"], out=out, cache_dir=cache, scoring=scoring, progress=False, **kwargs
    )


@pytest.fixture(scope="module")
def reference_run(tiny):
    """An uninterrupted ground-truth run every resume test compares with."""
    summary = evaluate(_config(tiny, tiny["root"] / "runs" / "reference", tiny["root"] / "reference-cache"))
    return summary


def _without_created(results: dict) -> dict:
    return {k: v for k, v in results.items() if k != "created"}


def _cli_args(tiny, out, cache, method="ground-truth"):
    return [
        "evaluate",
        "--method",
        method,
        "--dataset",
        tiny["dataset"],
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--grid-size",
        str(GRID),
        "--eval-size",
        f"{SIZE}x{SIZE}",
        "--clip-model",
        tiny["clip"],
        "--no-progress",
    ]


@pytest.fixture
def counters(monkeypatch):
    """Count generate calls per clip and KLT tracking calls."""
    counts = {"generate": [], "track": 0}
    generate, track = GroundTruth.generate, KLTTracker._track

    def counting_generate(self, request):
        counts["generate"].append(request.clip_id)
        return generate(self, request)

    def counting_track(self, *args):
        counts["track"] += 1
        return track(self, *args)

    monkeypatch.setattr(GroundTruth, "generate", counting_generate)
    monkeypatch.setattr(KLTTracker, "_track", counting_track)
    return counts


# ---- end to end ------------------------------------------------------------------------------


def test_cli_ground_truth_end_to_end(tiny, tmp_path):
    out = tmp_path / "gt"
    result = CliRunner().invoke(main, _cli_args(tiny, out, tmp_path / "cache"))
    assert result.exit_code == 0, result.output + str(result.exception)
    assert "motion_fidelity_chamfer" in result.output and "clip_score" in result.output

    results = load_results(out)  # the leaderboard's own reader validates the schema
    split = open_split(tiny["dataset"])
    assert results.clips == tuple(sorted(split.clip_ids)) and results.num_clips == 4 and results.failures == ()
    assert results.method == "ground-truth" and results.fingerprint == "tinyfingerprint0" and results.revision is None
    assert results.protocol.motion.tracker == "klt" and results.protocol.motion.grid_size == GRID
    assert results.protocol.motion.eval_size == (SIZE, SIZE) and results.protocol.motion.reference == "real"
    assert results.protocol.clip.model == tiny["clip"] and results.protocol.clip.context_length == 77
    assert (results.protocol.num_frames, results.protocol.fps) == (16, 8.0)
    assert "torch" in results.versions and results.seed == 0

    records = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert [r["clip_id"] for r in records] == list(results.clips)
    for key in ("clip_score", "motion_fidelity_chamfer", "motion_fidelity_dmt"):
        values = [r[key] for r in records]
        assert results.metrics[key].mean == pytest.approx(math.fsum(values) / 4, abs=1e-12)
        assert results.metrics[key].n == 4
        assert results.metrics[key].ci95[0] <= results.metrics[key].mean <= results.metrics[key].ci95[1]

    # each clip's numbers are what the metrics give on the real clip (ground truth = the real clip itself)
    from amg_bench.metrics.clip_score import CLIPScorer
    from amg_bench.metrics.functional.motion_fidelity import motion_fidelity_scores
    from amg_bench.metrics.motion_fidelity import MotionFidelity

    scorer = CLIPScorer(tiny["clip"], None)
    fidelity = MotionFidelity("klt", grid_size=GRID, eval_size=(SIZE, SIZE))
    for record in records:
        row = split.row(record["clip_id"])
        real = read_video(row["video"]["bytes"])
        tracks = fidelity.tracks(real)
        expected = motion_fidelity_scores(tracks, tracks)
        assert record["motion_fidelity_chamfer"] == pytest.approx(expected["chamfer"], abs=1e-9)
        assert record["motion_fidelity_dmt"] == pytest.approx(expected["dmt"], abs=1e-9)
        assert record["clip_score"] == pytest.approx(scorer.score(real, row["scene_caption"]).score, abs=1e-4)
        assert record["caption_truncated"] is False and record["failure"] is None
        assert record["seed"] == clip_seed(0, record["clip_id"])
        stored = read_video(out / "videos" / f"{record['clip_id']}.mp4")
        assert (
            stored.shape == real.shape and np.abs(stored.astype(int) - real).mean() < 10
        )  # H.264 (yuv420p) round trip


def test_long_caption_is_flagged_truncated(tiny, tmp_path):
    folder = write_tiny_dataset(
        tmp_path / "long", num_clips=1, size=SIZE, captions=[" ".join(["a person walks across a sunny park"] * 20)]
    )
    summary = evaluate(_config({**tiny, "dataset": str(folder)}, tmp_path / "out", tmp_path / "cache"))
    record = json.loads((tmp_path / "out" / "scores.jsonl").read_text())
    assert record["caption_truncated"] is True and summary.ok


# ---- bad method outputs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, message",
    [
        ("frames", "num_frames must be 16, got 15"),
        ("size", f"size must be {SIZE}x{SIZE}, got {SIZE - 2}x{SIZE}"),
        ("dtype", "dtype must be uint8, got float32"),
        ("channels", f"shape must be (T, H, W, 3), got (16, {SIZE}, {SIZE}, 4)"),
        ("list", "expected a numpy array, got list"),
        ("raises", "RuntimeError: out of memory while denoising"),
    ],
)
def test_bad_output_fails_only_that_clip(tiny, tmp_path, mode, message):
    bad = sorted(open_split(tiny["dataset"]).clip_ids)[1]
    out = tmp_path / "run"
    summary = evaluate(
        _config(
            tiny,
            out,
            tmp_path / "cache",
            method="datasets_for_tests:BadOutput",
            metrics=("motion",),
            method_options={"bad_clip": bad, "mode": mode},
        )
    )
    assert [f["clip_id"] for f in summary.failures] == [bad]
    assert message in summary.failures[0]["reason"] and summary.failures[0]["reason"].startswith("generate: ")
    assert summary.results["metrics"]["motion_fidelity_chamfer"]["n"] == 3
    assert summary.results["num_clips"] == 4
    assert not (out / "videos" / f"{bad}.mp4").exists()
    assert sorted(p.stem for p in (out / "videos").glob("*.mp4")) == sorted(
        c for c in summary.results["clips"] if c != bad
    )
    records = {r["clip_id"]: r for r in map(json.loads, (out / "scores.jsonl").read_text().splitlines())}
    assert message in records[bad]["failure"] and "motion_fidelity_chamfer" not in records[bad]


def test_cli_exits_nonzero_and_lists_failures_then_retries_only_them(tiny, tmp_path, counters):
    bad = sorted(open_split(tiny["dataset"]).clip_ids)[2]
    args = _cli_args(tiny, tmp_path / "run", tmp_path / "cache", method="datasets_for_tests:BadOutput")
    result = CliRunner().invoke(main, args + ["--method-arg", f"bad_clip={bad}", "--method-arg", "mode=frames"])
    assert result.exit_code == 1
    assert f"1 clip(s) failed:\n  {bad}: generate: MethodOutputError" in result.stderr
    assert (tmp_path / "run" / "results.json").is_file()
    # a second run redoes the failed clip only (and it fails again, same results)
    first = json.loads((tmp_path / "run" / "results.json").read_text())
    result = CliRunner().invoke(main, args + ["--method-arg", f"bad_clip={bad}", "--method-arg", "mode=frames"])
    assert result.exit_code == 1 and "3 already finished, 1 processed now" in result.output
    assert _without_created(json.loads((tmp_path / "run" / "results.json").read_text())) == _without_created(first)


# ---- resume ----------------------------------------------------------------------------------


def _kill_generate(monkeypatch, calls=3):
    original = GroundTruth.generate
    seen = []

    def generate(self, request):
        seen.append(request.clip_id)
        if len(seen) == calls:
            raise _Killed
        return original(self, request)

    monkeypatch.setattr(GroundTruth, "generate", generate)


def _kill_video_write(monkeypatch, calls=2):
    original = runner_module.write_video
    seen = []

    def write_video(path, frames, fps, crf=18):
        seen.append(path)
        if len(seen) == calls:  # die half way through the write: only a hidden temporary exists
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            (Path(path).parent / f".{Path(path).name}.abc.mp4.tmp").write_bytes(b"\x00\x00\x00 ftypisom half")
            raise _Killed
        return original(path, frames, fps, crf=crf)

    monkeypatch.setattr(runner_module, "write_video", write_video)


def _kill_record_write(monkeypatch, calls=3):
    original = RunFolder.write_record
    seen = []

    def write_record(self, record):
        seen.append(record["clip_id"])
        if len(seen) == calls:  # the video of this clip is written, its record is not
            raise _Killed
        return original(self, record)

    monkeypatch.setattr(RunFolder, "write_record", write_record)


def _kill_merge(monkeypatch):
    def write_results(*args, **kwargs):
        raise _Killed

    monkeypatch.setattr(runner_module, "_write_results", write_results)


@pytest.mark.parametrize(
    "kill, finished_at_kill", [(_kill_generate, 2), (_kill_video_write, 1), (_kill_record_write, 2), (_kill_merge, 4)]
)
def test_resume_after_a_kill_recomputes_nothing_finished_and_gives_identical_results(
    tiny, tmp_path, reference_run, kill, finished_at_kill, counters
):
    out, cache = tmp_path / "run", tmp_path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        kill(patch)
        with pytest.raises(_Killed):
            evaluate(_config(tiny, out, cache))
    clips = reference_run.results["clips"]
    finished = [
        c for c in clips if (out / "videos" / f"{c}.mp4").is_file() and (out / "scores" / f"{c}.json").is_file()
    ]
    assert len(finished) == finished_at_kill
    unfinished = [c for c in clips if c not in finished]
    assert not (out / "results.json").exists()
    counters["generate"].clear()
    counters["track"] = 0

    summary = evaluate(_config(tiny, out, cache))
    assert counters["generate"] == unfinished  # finished clips are not generated again ...
    cached = summary.cache["reference_tracks"]["hits"]
    assert counters["track"] == len(unfinished) + (len(unfinished) - cached)  # ... nor tracked again
    assert summary.already_finished == len(clips) - len(unfinished) and summary.processed == len(unfinished)
    assert _without_created(summary.results) == _without_created(reference_run.results)
    assert (out / "scores.jsonl").read_bytes() == (reference_run.out / "scores.jsonl").read_bytes()
    assert not list((out / "videos").glob(".*.tmp")) or kill is _kill_video_write  # a stray temp is never read
    assert sorted(p.name for p in (out / "videos").glob("*.mp4")) == [f"{c}.mp4" for c in clips]


def test_a_real_sigkill_then_resume(tiny, tmp_path, reference_run):
    out, cache = tmp_path / "run", tmp_path / "cache"
    clips = reference_run.results["clips"]
    env = {
        **os.environ,
        "AMG_TEST_KILL_AT": clips[2],
        "PYTHONPATH": f"{TESTS_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    cli = Path(sys.executable).with_name("amg-bench")
    killed = subprocess.run(
        [str(cli), *_cli_args(tiny, out, cache, method="datasets_for_tests:KillAt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    assert sorted(p.stem for p in (out / "scores").glob("*.json")) == clips[:2]

    summary = evaluate(_config(tiny, out, cache, method="datasets_for_tests:KillAt"))
    assert summary.already_finished == 2 and summary.processed == 2
    assert summary.results["metrics"] == reference_run.results["metrics"]
    assert (out / "scores.jsonl").read_bytes() == (reference_run.out / "scores.jsonl").read_bytes()


def test_resume_with_other_settings_is_refused(tiny, tmp_path):
    evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=1))
    with pytest.raises(OutputExistsError, match="seed: was 0, now 1"):
        evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=1, seed=1))


def test_more_clips_later_reuses_the_finished_ones(tiny, tmp_path, counters):
    evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=2))
    counters["generate"].clear()
    summary = evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",)))
    assert summary.already_finished == 2 and len(counters["generate"]) == 2 and summary.results["num_clips"] == 4


# ---- caches ----------------------------------------------------------------------------------


def test_second_method_hits_the_reference_and_caption_caches(tiny, tmp_path, counters, monkeypatch):
    from amg_bench.metrics.clip_score import CLIPScorer

    cache = tmp_path / "cache"
    first = evaluate(_config(tiny, tmp_path / "gt", cache))
    assert first.cache == {"reference_tracks": {"hits": 0, "misses": 4}, "captions": {"hits": 0, "misses": 4}}
    assert len(list((cache / "tracks").glob("*.npy"))) == 4 and len(list((cache / "text").glob("*.safetensors"))) == 4

    text_calls = []
    original = CLIPScorer.text_embedding
    monkeypatch.setattr(CLIPScorer, "text_embedding", lambda self, c: text_calls.append(c) or original(self, c))
    counters["track"] = 0
    second = evaluate(_config(tiny, tmp_path / "avatar", cache, method="avatar"))
    assert second.cache == {"reference_tracks": {"hits": 4, "misses": 0}, "captions": {"hits": 4, "misses": 0}}
    assert counters["track"] == 4  # only the avatar videos were tracked
    assert text_calls == []
    assert second.ok and second.results["metrics"]["clip_score"]["n"] == 4

    # the cache key holds the tracking settings: another grid tracks the references again
    counters["track"] = 0
    third = evaluate(_config(tiny, tmp_path / "grid3", cache, method="avatar", grid_size=3))
    assert third.cache["reference_tracks"] == {"hits": 0, "misses": 4} and counters["track"] == 8


def test_cached_tracks_are_the_tracks(tiny, tmp_path):
    from amg_bench.evaluation.cache import ReferenceTrackCache

    calls = []
    cache = ReferenceTrackCache(tmp_path, {"grid": 3}, lambda frames: calls.append(1) or frames[:, :4, 0, :2] * 0.5)
    frames = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    first = cache.tracks(b"video-bytes", lambda: frames)
    second = cache.tracks(b"video-bytes", lambda: frames)
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and len(calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    ReferenceTrackCache(tmp_path, {"grid": 4}, lambda f: calls.append(1) or f[:, :4, 0, :2]).tracks(
        b"video-bytes", lambda: frames
    )
    assert len(calls) == 2


# ---- folder: and dataset checks --------------------------------------------------------------


def test_folder_method_with_a_missing_video(tiny, tmp_path, reference_run, caplog):
    clips = reference_run.results["clips"]
    folder = tmp_path / "made-elsewhere"
    shutil.copytree(reference_run.out / "videos", folder)
    (folder / f"{clips[1]}.mp4").unlink()
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(
            main, _cli_args(tiny, tmp_path / "run", tmp_path / "cache", method=f"folder:{folder}")
        )
    assert result.exit_code == 1
    assert f"lacks 1 of 4 videos; these clips will fail: {clips[1]}.mp4" in caplog.text
    assert (
        f"{clips[1]}: generate: MethodError: folder method: no video for clip {clips[1]} "
        f"(expected {folder / (clips[1] + '.mp4')})" in result.stderr
    )
    results = load_results(tmp_path / "run")
    assert [f["clip_id"] for f in results.failures] == [clips[1]] and results.metrics["clip_score"].n == 3
    assert results.method == f"folder:{folder}" and results.method_options == {"folder": str(folder.resolve())}


def test_dataset_lacking_a_required_column_is_refused_before_generation(tiny, tmp_path):
    with pytest.raises(MethodError, match=r"requires 'pose' \(column 'pose_video'\)"):
        evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", method="test_evaluation:NeedsPose"))
    assert not (tmp_path / "run" / "videos").exists()


def test_clip_selection(tiny):
    split = open_split(tiny["dataset"])
    assert select_clips(split, limit=2) == sorted(split.clip_ids[:2])
    assert select_clips(split, clips=[split.clip_ids[3], split.clip_ids[0]]) == sorted(
        [split.clip_ids[0], split.clip_ids[3]]
    )
    with pytest.raises(DatasetError, match=r"has no clip \['src0_00000'\]; close ids"):
        select_clips(split, clips=["src0_00000"])
    with pytest.raises(DatasetError, match="no split 'train'"):
        open_split(tiny["dataset"], "train")
    with pytest.raises(DatasetError, match="cannot load dataset 'nobody/no-such-dataset-xyz'"):
        open_split("nobody/no-such-dataset-xyz")  # offline in tests: neither a folder nor reachable


def test_unknown_method_fails_before_any_work(tiny, tmp_path):
    result = CliRunner().invoke(main, _cli_args(tiny, tmp_path / "run", tmp_path / "cache", method="ground-trth"))
    assert result.exit_code == 1 and "did you mean 'ground-truth'" in result.stderr
    assert not (tmp_path / "run").exists()
