"""The evaluation runner end to end on a tiny built dataset, a tiny random CLIP and KLT on a 5x5 grid."""

from __future__ import annotations

import json
import logging
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
from amg_bench.data.hub import video_cell_bytes
from amg_bench.errors import DatasetError, MethodError, MissingWeightsError, OutputExistsError
from amg_bench.evaluation.dataset import clip_seed, open_split, select_clips
from amg_bench.evaluation.protocols import paper_clips, protocol_scoring, recorded_name
from amg_bench.evaluation.run_folder import RunFolder
from amg_bench.evaluation.runner import EvaluationConfig, evaluate
from amg_bench.evaluation.scoring import ScoringSettings
from amg_bench.methods.base import Method
from amg_bench.methods.reference import GroundTruth
from amg_bench.metrics.trackers.klt import KLTTracker
from amg_bench.results import Results
from amg_bench.video import encode_mp4, read_video

TESTS_DIR = Path(__file__).parent
GRID = 5
SIZE = 64


class NeedsPose(Method):
    name = "needs-pose"
    requires = frozenset({"pose", "reference_frame"})

    def generate(self, request):
        raise AssertionError("must not be called: the dataset has no pose_video column")


class MissingWeights(Method):
    """A method whose weights are absent: its load fails before any clip."""

    name = "missing-weights"
    requires = frozenset({"condition"})

    def load(self):
        raise MissingWeightsError("weights/x does not exist; download them with `hf download x/y`")

    def generate(self, request):
        raise AssertionError("must not be called")


class _Killed(BaseException):
    """Stands for the process dying at this point (not caught by the runner's ``except Exception``)."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    dataset = write_tiny_dataset(root / "ds", num_clips=4, size=SIZE)
    return {"dataset": str(dataset), "clip": save_tiny_clip(root / "clip"), "root": root}


def _scoring(tiny, metrics=("clip", "motion"), **overrides) -> ScoringSettings:
    settings = dict(
        metrics=metrics, grid_size=GRID, eval_size=(SIZE, SIZE), clip_model=tiny["clip"], clip_pretrained=None
    )
    return protocol_scoring("offline", **{**settings, **overrides})


def _config(tiny, out, cache, method="ground-truth", metrics=("clip", "motion"), **kwargs) -> EvaluationConfig:
    scoring = _scoring(tiny, metrics, **({"grid_size": kwargs.pop("grid_size")} if "grid_size" in kwargs else {}))
    return EvaluationConfig(
        method=method,
        dataset=tiny["dataset"],
        out=out,
        cache_dir=cache,
        protocol="offline",
        scoring=scoring,
        progress=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def reference_run(tiny):
    """An uninterrupted ground-truth run every resume test compares with."""
    return evaluate(_config(tiny, tiny["root"] / "runs" / "reference", tiny["root"] / "reference-cache"))


def _without_created(results: Results) -> dict:
    return {k: v for k, v in results.to_dict().items() if k != "created"}


def _cli_args(tiny, out, cache, method="ground-truth"):
    return ["evaluate", "--method", method, "--dataset", tiny["dataset"], "--out", str(out), "--cache-dir", str(cache),
            "--protocol", "offline", "--grid-size", str(GRID), "--eval-size", f"{SIZE}x{SIZE}", "--clip-model",
            tiny["clip"], "--no-progress"]  # fmt: skip


@pytest.fixture
def counters(monkeypatch):
    """Count the clips ground-truth produced (it publishes the dataset's bytes) and KLT tracking calls."""
    counts = {"generate": [], "track": 0}
    published, track = GroundTruth.published, KLTTracker._track

    def counting_published(self, request):
        counts["generate"].append(request.clip_id)
        return published(self, request)

    def counting_track(self, *args):
        counts["track"] += 1
        return track(self, *args)

    monkeypatch.setattr(GroundTruth, "published", counting_published)
    monkeypatch.setattr(KLTTracker, "_track", counting_track)
    return counts


def _records(out: Path) -> dict[str, dict]:
    return {r["clip_id"]: r for r in map(json.loads, (out / "scores.jsonl").read_text().splitlines())}


# ---- end to end ------------------------------------------------------------------------------


def test_cli_ground_truth_end_to_end(tiny, tmp_path):
    out = tmp_path / "gt"
    result = CliRunner().invoke(main, _cli_args(tiny, out, tmp_path / "cache"))
    assert result.exit_code == 0, result.output + str(result.exception)
    assert "motion_fidelity_chamfer" in result.output and "clip_score" in result.output
    assert "(protocol custom, 4 clips" in result.output and "2 sources" in result.output

    results = Results.load(out)  # the schema's own reader validates the file
    split = open_split(tiny["dataset"])
    assert results.clips == tuple(sorted(split.clip_ids)) and results.num_clips == 4 and results.failures == ()
    assert results.method.name == "ground-truth" and results.method.role == "reference"
    assert results.method.requires == ("video",) and results.method.reads_real_video and not results.method.uses_prompt
    assert results.dataset.fingerprint == "tinyfingerprint0" and results.dataset.revision is None
    assert results.protocol.name == "custom"  # the offline protocol's grid is 55, this run's 5
    assert results.protocol.motion.tracker == "klt" and results.protocol.motion.grid_size == GRID
    assert results.protocol.motion.eval_size == (SIZE, SIZE) and results.protocol.motion.reference == "real"
    assert results.protocol.clip.model == tiny["clip"] and results.protocol.clip.context_length == 77
    assert (results.protocol.num_frames, results.protocol.fps) == (16, 8.0)
    assert results.protocol.video_encoding["crf"] == 0 and results.protocol.interval["confidence"] == 0.95
    assert "torch" in results.versions and results.seed == 0

    records = _records(out)
    assert list(records) == list(results.clips)
    for key in ("clip_score", "motion_fidelity_chamfer", "motion_fidelity_dmt"):
        values = [r[key] for r in records.values()]
        assert results.metrics[key].mean == pytest.approx(sum(values) / 4, abs=1e-12)
        assert results.metrics[key].n == 4 and results.metrics[key].n_sources == 2
    assert results.diagnostics["motion_points_dropped"].n == 4

    # each clip's numbers are what the metrics give on the real clip, and the stored video is the dataset's own
    from amg_bench.metrics.clip_score import CLIPScorer
    from amg_bench.metrics.motion_fidelity import MotionFidelity

    scorer = CLIPScorer(tiny["clip"], None)
    fidelity = MotionFidelity("klt", grid_size=GRID, eval_size=(SIZE, SIZE))
    for clip_id, record in records.items():
        row = split.row(clip_id)
        data = video_cell_bytes(row["video"], clip_id)
        assert (out / "videos" / f"{clip_id}.mp4").read_bytes() == data  # published unchanged
        real = read_video(data)
        tracks = fidelity.tracks(real)
        expected = fidelity.score_tracks(tracks, tracks)
        assert record["motion_fidelity_chamfer"] == pytest.approx(expected.scores["chamfer"], abs=1e-9)
        assert record["motion_fidelity_dmt"] == pytest.approx(expected.scores["dmt"], abs=1e-9)
        assert record["motion_points_dropped"] == int(tracks.lost.sum())
        assert record["clip_score"] == pytest.approx(scorer.score(real, row["scene_caption"]).score, abs=1e-4)
        assert record["caption_truncated"] is False and record["failure"] is None
        assert record["seed"] == clip_seed(0, clip_id) and record["source_id"] == row["source_id"]
        if record["motion_foreground_points"] == 0:  # no kept grid point on the person: no foreground score
            assert record["motion_fidelity_foreground_chamfer"] is None
    assert any(r["motion_foreground_points"] > 0 for r in records.values())  # the person's frame-0 mask has points


def test_generated_frames_are_scored_as_stored(tiny, tmp_path):
    summary = evaluate(_config(tiny, tmp_path / "avatar", tmp_path / "cache", method="avatar", metrics=("motion",)))
    split = open_split(tiny["dataset"])
    for clip_id, record in _records(summary.out).items():
        stored = read_video(summary.out / "videos" / f"{clip_id}.mp4")
        condition = read_video(video_cell_bytes(split.row(clip_id)["avatar_video"], clip_id))
        np.testing.assert_array_equal(stored, condition)  # avatar publishes the dataset's render as is
        assert record["failure"] is None


def test_long_caption_is_flagged_truncated(tiny, tmp_path):
    folder = write_tiny_dataset(
        tmp_path / "long", num_clips=1, size=SIZE, captions=[" ".join(["a person walks across a sunny park"] * 20)]
    )
    summary = evaluate(_config({**tiny, "dataset": str(folder)}, tmp_path / "out", tmp_path / "cache"))
    record = json.loads((tmp_path / "out" / "scores.jsonl").read_text())
    assert record["caption_truncated"] is True and summary.ok


# ---- protocols and calibrations --------------------------------------------------------------


def test_the_paper_protocol_takes_five_evenly_spread_clips():
    ids = [f"film_{i:06d}" for i in range(288)]
    assert paper_clips(ids) == ["film_000000", "film_000072", "film_000144", "film_000215", "film_000287"]
    assert paper_clips(ids[:3]) == ids[:3]


def test_a_run_is_named_by_its_protocol_only_when_it_matches_it():
    clips = [f"c{i}" for i in range(10)]
    offline = protocol_scoring("offline")
    assert recorded_name("offline", offline, clips, clips) == "offline"
    assert recorded_name("offline", offline, clips[:4], clips) == "custom"  # --limit
    assert recorded_name("offline", protocol_scoring("offline", grid_size=30), clips, clips) == "custom"
    assert recorded_name("offline", protocol_scoring("offline", clip_batch_size=4), clips, clips) == "offline"
    paper = protocol_scoring("paper", tracker_options={"checkpoint": "/w/cotracker_w8.pth"})
    assert paper.tracker_options == {"model": "cotracker_w8", "checkpoint": "/w/cotracker_w8.pth"}
    assert paper.motion_variants == ("dmt",) and not paper.drop_lost
    assert recorded_name("paper", paper, paper_clips(clips), clips) == "paper"


def test_calibration_rows_land_where_no_motion_and_wrong_motion_land(tiny, tmp_path, reference_run):
    frozen = evaluate(_config(tiny, tmp_path / "frozen", tmp_path / "cache", method="frozen", metrics=("motion",)))
    shuffled = evaluate(
        _config(tiny, tmp_path / "shuffled", tmp_path / "cache", method="shuffled", metrics=("motion",))
    )
    assert frozen.results.method.role == shuffled.results.method.role == "calibration"
    for clip_id in frozen.results.clips:  # the first real frame held: every frame identical
        video = read_video(frozen.out / "videos" / f"{clip_id}.mp4")
        assert (video == video[:1]).all()
    assert frozen.results.metrics["motion_fidelity_chamfer"].mean == 0.0
    gt = reference_run.results.metrics["motion_fidelity_chamfer"].mean
    assert shuffled.results.metrics["motion_fidelity_chamfer"].mean < gt - 10
    split = open_split(tiny["dataset"])
    for clip_id in shuffled.results.clips:  # another clip's real video, preferably of another source
        stored = (shuffled.out / "videos" / f"{clip_id}.mp4").read_bytes()
        partner = next(c for c in split.clip_ids if video_cell_bytes(split.row(c)["video"], c) == stored)
        assert partner != clip_id and split.source_id(partner) != split.source_id(clip_id)


def test_folder_over_the_ground_truth_videos_scores_the_same(tiny, tmp_path, reference_run):
    summary = evaluate(
        _config(
            tiny, tmp_path / "folder", tiny["root"] / "reference-cache", method=f"folder:{reference_run.out / 'videos'}"
        )
    )
    for key, value in reference_run.results.metrics.items():
        assert summary.results.metrics[key].mean == pytest.approx(value.mean, abs=1e-9), key
    assert summary.results.method.role == "method"


def test_a_folder_video_at_another_frame_rate_is_refused(tiny, tmp_path, reference_run):
    folder = tmp_path / "made-elsewhere"
    shutil.copytree(reference_run.out / "videos", folder)
    clip = reference_run.results.clips[0]
    (folder / f"{clip}.mp4").write_bytes(encode_mp4(read_video(folder / f"{clip}.mp4"), 24.0))
    with pytest.raises(
        MethodError, match=rf"1 of 4 videos have another frame rate.*{clip}.mp4 runs at 24 fps \(clip: 8\)"
    ):
        evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", method=f"folder:{folder}", metrics=("motion",)))
    assert not (tmp_path / "run" / "run.json").exists()  # refused before the run was recorded


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
    assert [f.clip_id for f in summary.failures] == [bad]
    assert message in summary.failures[0].reason and summary.failures[0].reason.startswith("generate: ")
    assert summary.results.metrics["motion_fidelity_chamfer"].n == 3 and summary.results.num_clips == 4
    assert not (out / "videos" / f"{bad}.mp4").exists()
    assert sorted(p.stem for p in (out / "videos").glob("*.mp4")) == [c for c in summary.results.clips if c != bad]
    records = _records(out)
    assert message in records[bad]["failure"] and "motion_fidelity_chamfer" not in records[bad]


def test_cli_exits_nonzero_and_lists_failures_then_retries_only_them(tiny, tmp_path, counters):
    bad = sorted(open_split(tiny["dataset"]).clip_ids)[2]
    args = [*_cli_args(tiny, tmp_path / "run", tmp_path / "cache", method="datasets_for_tests:BadOutput"),
            "--method-arg", f"bad_clip={bad}", "--method-arg", "mode=frames"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"1 clip(s) failed:\n  {bad}: generate: MethodOutputError" in result.stderr
    first = Results.load(tmp_path / "run")
    # a second run redoes the failed clip only (and it fails again, same results)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "3 already finished, 1 processed now" in result.output
    assert _without_created(Results.load(tmp_path / "run")) == _without_created(first)


# ---- a run that cannot start, and one that is already running --------------------------------


def test_missing_weights_fail_once_before_any_clip_and_block_nothing(tiny, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(MissingWeightsError, match="hf download x/y"):
        evaluate(_config(tiny, out, tmp_path / "cache", method="test_evaluation:MissingWeights", metrics=("motion",)))
    assert not (out / "run.json").exists() and not (out / "videos").exists()
    summary = evaluate(_config(tiny, out, tmp_path / "cache", method="avatar", metrics=("motion",)))  # the rerun
    assert summary.ok and summary.processed == 4


def test_a_second_process_on_the_same_folder_is_refused(tiny, tmp_path):
    out = tmp_path / "run"
    code = (
        "import fcntl, pathlib, sys, time\n"
        f"folder = pathlib.Path({str(out)!r}); folder.mkdir(parents=True)\n"
        "handle = open(folder / '.amg_bench.lock', 'a+')\n"
        "fcntl.flock(handle.fileno(), fcntl.LOCK_EX)\n"
        "handle.write('pid 4242 (amg-bench evaluate)'); handle.flush()\n"
        "print('locked', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputExistsError, match=r"is being written by pid 4242 \(amg-bench evaluate\)"):
            evaluate(_config(tiny, out, tmp_path / "cache", metrics=("motion",)))
    finally:
        holder.kill()
        holder.wait()
    assert evaluate(_config(tiny, out, tmp_path / "cache", metrics=("motion",), limit=1)).ok  # free once it ends


# ---- resume ----------------------------------------------------------------------------------


def _kill_generate(monkeypatch, calls=3):
    original = GroundTruth.published
    seen = []

    def published(self, request):
        seen.append(request.clip_id)
        if len(seen) == calls:
            raise _Killed
        return original(self, request)

    monkeypatch.setattr(GroundTruth, "published", published)


def _kill_video_write(monkeypatch, calls=2):
    original = runner_module.write_bytes
    seen = []

    def write_bytes(path, data):
        seen.append(path)
        if len(seen) == calls:  # die half way through the write: only a hidden temporary exists
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            (Path(path).parent / f".{Path(path).name}.abc.tmp").write_bytes(b"\x00\x00\x00 ftypisom half")
            raise _Killed
        return original(path, data)

    monkeypatch.setattr(runner_module, "write_bytes", write_bytes)


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
    clips = list(reference_run.results.clips)
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
    assert _without_created(summary.results) == _without_created(reference_run.results) | {"failures": []}
    assert sorted(p.name for p in (out / "videos").glob("*.mp4")) == [f"{c}.mp4" for c in clips]


def test_a_real_sigkill_then_resume(tiny, tmp_path, reference_run):
    out, cache = tmp_path / "run", tmp_path / "cache"
    clips = list(reference_run.results.clips)
    env = {**os.environ, "AMG_TEST_KILL_AT": clips[2],
           "PYTHONPATH": f"{TESTS_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}  # fmt: skip
    cli = Path(sys.executable).with_name("amg-bench")
    killed = subprocess.run([str(cli), *_cli_args(tiny, out, cache, method="datasets_for_tests:KillAt")], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert sorted(p.stem for p in (out / "scores").glob("*.json")) == clips[:2]

    summary = evaluate(_config(tiny, out, cache, method="datasets_for_tests:KillAt"))
    assert summary.already_finished == 2 and summary.processed == 2
    assert summary.results.metrics == reference_run.results.metrics
    assert (out / "scores.jsonl").read_bytes() == (reference_run.out / "scores.jsonl").read_bytes()


def test_resume_with_other_settings_is_refused(tiny, tmp_path):
    evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=1))
    with pytest.raises(OutputExistsError, match="seed: was 0, now 1"):
        evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=1, seed=1))


def test_a_corrupt_run_file_is_named(tiny, tmp_path):
    evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=1))
    (tmp_path / "run" / "run.json").write_text("{half")
    with pytest.raises(OutputExistsError, match=r"run.json is unreadable \(JSONDecodeError"):
        evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=1))


def test_more_clips_later_is_another_run(tiny, tmp_path):
    evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",), limit=2))
    with pytest.raises(OutputExistsError, match="clips: was"):
        evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", metrics=("motion",)))


# ---- caches ----------------------------------------------------------------------------------


def test_second_method_hits_the_reference_caption_and_region_caches(tiny, tmp_path, counters, monkeypatch):
    from amg_bench.metrics.clip_score import CLIPScorer

    cache = tmp_path / "cache"
    first = evaluate(_config(tiny, tmp_path / "gt", cache))
    miss4 = {"hits": 0, "misses": 4}
    # the four clips share one person and camera: their regions are one entry, keyed by content
    assert first.cache == {
        "caption_embeddings": miss4,
        "reference_tracks": miss4,
        "person_regions": {"hits": 3, "misses": 1},
    }
    assert len(list((cache / "tracks").rglob("*.npz"))) == 4
    assert len(list((cache / "caption_embeddings").rglob("*.safetensors"))) == 4

    text_calls = []
    original = CLIPScorer.text_embedding
    monkeypatch.setattr(CLIPScorer, "text_embedding", lambda self, c: text_calls.append(c) or original(self, c))
    counters["track"] = 0
    second = evaluate(_config(tiny, tmp_path / "avatar", cache, method="avatar"))
    hit4 = {"hits": 4, "misses": 0}
    assert second.cache == {"caption_embeddings": hit4, "reference_tracks": hit4, "person_regions": hit4}
    assert counters["track"] == 4 and text_calls == []  # only the avatar videos were tracked
    assert second.ok and second.results.metrics["clip_score"].n == 4

    # the cache settings hold the tracker's and the grid: another grid tracks the references again
    counters["track"] = 0
    third = evaluate(_config(tiny, tmp_path / "grid3", cache, method="avatar", grid_size=3))
    assert third.cache["reference_tracks"] == miss4 and counters["track"] == 8


def test_cached_tracks_are_the_tracks(tmp_path):
    from amg_bench.metrics.tracking import CachingTracker

    calls = []
    tracker = KLTTracker()
    original = tracker._track
    tracker._track = lambda *a: calls.append(1) or original(*a)
    cached = CachingTracker(tracker, tmp_path)
    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    first, second = cached.track(frames, 3), cached.track(frames, 3)
    direct = KLTTracker().track(frames, 3)
    np.testing.assert_array_equal(first.positions, direct.positions)
    np.testing.assert_array_equal(second.tracked, direct.tracked)
    assert len(calls) == 1 and cached.cache.stats() == {"hits": 1, "misses": 1}
    cached.track(frames, 4)  # another grid is another entry
    CachingTracker(KLTTracker(window_size=9), tmp_path).track(frames, 3)  # other settings: another folder
    assert len(calls) == 2 and len(list(tmp_path.rglob("*.npz"))) == 3


# ---- folder: and dataset checks --------------------------------------------------------------


def test_folder_method_with_a_missing_video(tiny, tmp_path, reference_run, caplog):
    clips = list(reference_run.results.clips)
    folder = tmp_path / "made-elsewhere"
    shutil.copytree(reference_run.out / "videos", folder)
    (folder / f"{clips[1]}.mp4").unlink()
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(
            main, _cli_args(tiny, tmp_path / "run", tmp_path / "cache", method=f"folder:{folder}")
        )
    assert result.exit_code == 1
    assert f"lacks 1 of 4 videos; these clips will fail: {clips[1]}.mp4" in caplog.text
    assert (f"{clips[1]}: generate: MethodError: folder method: no video for clip {clips[1]} "
            f"(expected {folder / (clips[1] + '.mp4')})") in result.stderr  # fmt: skip
    results = Results.load(tmp_path / "run")
    assert [f.clip_id for f in results.failures] == [clips[1]] and results.metrics["clip_score"].n == 3
    assert results.method.name == f"folder:{folder}" and results.method.options == {"folder": str(folder.resolve())}


def test_dataset_lacking_a_required_column_is_refused_before_generation(tiny, tmp_path):
    with pytest.raises(MethodError, match=r"requires 'pose' \(column 'pose_video'\)"):
        evaluate(_config(tiny, tmp_path / "run", tmp_path / "cache", method="test_evaluation:NeedsPose"))
    assert not (tmp_path / "run").exists()


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
    with pytest.raises(DatasetError, match="cannot load dataset 'nobody/no-such-dataset-xyz' \\(a Hub id"):
        open_split("nobody/no-such-dataset-xyz")  # offline in tests: neither a folder nor reachable
    with pytest.raises(DatasetError, match="dataset folder .*missing-folder does not exist"):
        open_split(str(Path(tiny["dataset"]).parent / "missing-folder"))


def test_a_tampered_shard_is_refused(tiny, tmp_path):
    folder = Path(shutil.copytree(tiny["dataset"], tmp_path / "ds"))
    shard = next((folder / "data").glob("test-*.parquet"))
    info = {"fingerprint": "fp", "splits": {"test": {"files": {f"data/{shard.name}": "0" * 64}}}}
    (folder / "amg_bench_build.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=f"shard data/{shard.name} changed since it was built"):
        open_split(str(folder), cache_root=tmp_path / "cache")


def test_unknown_method_fails_before_any_work(tiny, tmp_path):
    result = CliRunner().invoke(main, _cli_args(tiny, tmp_path / "run", tmp_path / "cache", method="ground-trth"))
    assert result.exit_code == 1 and "did you mean 'ground-truth'" in result.stderr
    assert not (tmp_path / "run").exists()
