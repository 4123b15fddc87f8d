"""Leaderboard: results validation, protocol grouping and ranks, Markdown / CSV / PNG, CLI, gallery."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from amg_bench.cli import main
from amg_bench.errors import DatasetError, OutputExistsError, ResultsError, VideoError
from amg_bench.leaderboard import (
    DEFAULT_REPORTED,
    build_leaderboard,
    build_table,
    gallery_clips,
    load_reported,
    load_results,
    parse_results,
)
from amg_bench.leaderboard.markdown_csv import render_csv, render_markdown
from amg_bench.video import encode_mp4, read_video

CLIPS = ["src_000000", "src_000003", "src_000006"]
_VIDEO_CACHE: dict[int, bytes] = {}


def tiny_video(shade: int) -> bytes:
    """A 16-frame 64x64 H.264 clip whose colour identifies who wrote it."""
    if shade not in _VIDEO_CACHE:
        frames = np.zeros((16, 64, 64, 3), np.uint8)
        frames[..., 0] = shade
        frames[:, :, :, 1] = np.arange(16, dtype=np.uint8)[:, None, None] * 8
        _VIDEO_CACHE[shade] = encode_mp4(frames, 8.0)
    return _VIDEO_CACHE[shade]


def results_dict(
    method: str,
    metrics: dict,
    tracker: str = "cotracker",
    clips: list[str] = CLIPS,
    fingerprint: str = "fp-abc",
    clip_model: str = "ViT-L-14",
) -> dict:
    return {
        "schema_version": 1,
        "method": {"name": method, "options": {"steps": 25}},
        "dataset": {"id": "demo_data/built", "split": "test", "fingerprint": fingerprint, "revision": None},
        "protocol": {
            "clip": {"model": clip_model, "pretrained": "openai", "context_length": 77},
            "motion": {
                "tracker": tracker,
                "tracker_config": {"model": "cotracker3_offline"} if tracker == "cotracker" else {"win_size": 15},
                "grid_size": 55,
                "eval_size": [256, 256],
                "variants": ["chamfer", "dmt"],
                "reference": "real",
            },
            "num_frames": 16,
            "fps": 8.0,
        },
        "metrics": {
            key: {"mean": mean, "ci95": [low, high], "n": len(clips)} for key, (mean, low, high) in metrics.items()
        },
        "num_clips": len(clips),
        "failures": [{"clip_id": "src_000009", "reason": "out of memory"}],
        "clips": list(clips),
        "videos_dir": "videos",
        "seed": 0,
        "versions": {"amg_bench": "0.1.0", "torch": "2.14.1"},
        "created": "2026-11-26T17:00:00Z",
    }


def write_run(root: Path, name: str, data: dict, shade: int | None = None) -> Path:
    """Write ``root/name/results.json`` and, with ``shade``, one video per listed clip."""
    run = root / name
    (run / "videos").mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps(data))
    if shade is not None:
        for clip_id in data["clips"]:
            (run / "videos" / f"{clip_id}.mp4").write_bytes(tiny_video(shade))
    return run / "results.json"


# metric -> (mean, ci95 low, ci95 high)
AMG = {
    "clip_score": (33.1, 32.0, 34.2),
    "motion_fidelity_chamfer": (71.0, 68.0, 74.0),
    "motion_fidelity_dmt": (69.5, 66.5, 72.5),
}
DMT = {
    "clip_score": (32.4, 31.0, 33.0),
    "motion_fidelity_chamfer": (58.0, 55.0, 61.0),
    "motion_fidelity_dmt": (56.25, 53.0, 59.5),
}
GT = {
    "clip_score": (34.4, 33.4, 35.4),
    "motion_fidelity_chamfer": (100.0, 100.0, 100.0),
    "motion_fidelity_dmt": (99.9, 99.8, 99.95),
}


@pytest.fixture()
def runs(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "runs"
    return {
        "amg": write_run(root, "amg", results_dict("amg", AMG), shade=200),
        "dmt": write_run(root, "dmt", results_dict("dmt", DMT), shade=120),
        "ground-truth": write_run(root, "ground-truth", results_dict("ground-truth", GT), shade=40),
        "avatar": write_run(root, "avatar", results_dict("avatar", {"clip_score": (20.0, 19.0, 21.0)}), shade=250),
    }


def test_load_results_reads_every_field(runs):
    r = load_results(runs["amg"].parent)  # a run folder means its results.json
    assert r.method == "amg" and r.num_clips == 3 and r.clips == tuple(CLIPS)
    assert r.metrics["clip_score"].mean == 33.1 and r.metrics["clip_score"].ci95 == (32.0, 34.2)
    assert r.protocol.motion.tracker == "cotracker" and r.protocol.motion.eval_size == (256, 256)
    assert r.video_path("src_000003") == runs["amg"].parent / "videos" / "src_000003.mp4"
    assert r.failures[0]["clip_id"] == "src_000009"


def _mutate(data: dict, dotted: str, value) -> dict:
    data = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("schema_version", 2, "schema_version"),
        ("method.name", "", "method.name"),
        ("method", _DELETE, "method"),
        ("dataset.fingerprint", 5, "dataset.fingerprint"),
        ("protocol.motion.tracker", "raft", "protocol.motion.tracker"),
        ("protocol.motion.eval_size", [256], "protocol.motion.eval_size"),
        ("protocol.motion.variants", ["dmt", "l2"], "protocol.motion.variants"),
        ("protocol.fps", "eight", "protocol.fps"),
        ("metrics.clip_score.mean", float("nan"), "metrics.clip_score.mean"),
        ("metrics.clip_score.ci95", [35.0, 30.0], "metrics.clip_score.ci95"),
        ("metrics.clip_score.n", 99, "metrics.clip_score.n"),
        ("metrics.fvd", {"mean": 1.0, "ci95": [0, 2], "n": 3}, "metrics.fvd"),
        ("protocol.clip", None, "protocol.clip"),
        ("num_clips", 4, "clips"),
        ("clips", ["a", "a", "b"], "clips"),
        ("clips", ["../escape", "b", "c"], "clips"),
        ("failures", [{"clip_id": "x"}], "failures[0].reason"),
    ],
)
def test_bad_results_file_names_file_and_field(tmp_path, field, value, named):
    path = write_run(tmp_path, "bad", _mutate(results_dict("amg", AMG), field, value))
    with pytest.raises(ResultsError) as info:
        load_results(path)
    message = str(info.value)
    assert str(path) in message and repr(named) in message, message


def test_motion_metric_needs_its_variant_in_the_protocol(tmp_path):
    data = _mutate(results_dict("amg", AMG), "protocol.motion.variants", ["chamfer"])
    with pytest.raises(ResultsError, match="protocol.motion.variants.*'dmt'"):
        parse_results(data, tmp_path / "r.json")


def test_missing_and_non_json_results_files(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        load_results(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ResultsError, match="broken.json: not valid JSON"):
        load_results(tmp_path / "broken.json")


def test_reported_table_is_the_papers_table_1():
    table = load_reported()
    assert DEFAULT_REPORTED.is_file()
    values = {row.method: row.values for row in table.rows}
    assert values == {
        "Ground Truth": {"clip_score": 34.43, "motion_fidelity_dmt": 99.88},
        "DMT": {"clip_score": 32.51, "motion_fidelity_dmt": 56.31},
        "MagicAnimate": {"clip_score": 33.23, "motion_fidelity_dmt": 26.53},
        "AMG": {"clip_score": 33.59, "motion_fidelity_dmt": 69.88},
    }
    assert table.protocol["num_clips"] == 5 and table.protocol["num_frames"] == 16 and table.protocol["fps"] == 8
    assert table.protocol["motion"]["tracker_config"]["model"] == "cotracker_w8"
    assert table.citation["arxiv"] == "2409.01502" and table.citation["authors"][0] == "Zhangsihao Yang"
    raw = json.loads(DEFAULT_REPORTED.read_text())
    assert all(cell["label"] == "reported" for row in raw["rows"] for cell in row["metrics"].values())


def test_reported_value_without_label_is_refused(tmp_path):
    raw = json.loads(DEFAULT_REPORTED.read_text())
    raw["rows"][1]["metrics"]["clip_score"] = {"value": 32.51}
    path = tmp_path / "reported.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match=r"rows\[1\]\.metrics\.clip_score"):
        load_reported(path)


def test_markdown_has_values_ci_counts_protocol_and_a_separate_reported_block(runs):
    board = build_table([load_results(runs[m]) for m in ("dmt", "amg", "ground-truth")], load_reported())
    md = render_markdown(board)
    measured, reported = md.split("## Reported in the paper")
    # ranked by DMT motion fidelity inside the single group: ground-truth, amg, dmt
    lines = [line for line in measured.splitlines() if line.startswith("| ") and "Rank" not in line]
    assert [line.split(" | ")[1] for line in lines] == ["ground-truth", "amg", "dmt"]
    amg = next(line for line in lines if "| amg |" in line)
    assert "33.10 ± 1.10 (#2)" in amg and "71.00 ± 3.00 (#2)" in amg and "69.50 ± 3.00 (#2)" in amg
    assert amg.endswith("| 3 | 1 | P1 |")  # clips, failures, protocol column
    assert "32.40 ± 1.00 (#3)" in md
    for part in ("Protocol P1: CLIP ViT-L-14/openai", "cotracker3_offline", "grid 55x55", "fingerprint fp-abc"):
        assert part in measured
    # the paper's numbers appear only in the reported block, each labelled and unranked
    assert "34.43" not in measured and "69.88" not in measured
    assert "| AMG | 33.59 | 69.88 | 5 | reported |" in reported
    assert "| MagicAnimate | 33.23 | 26.53 | 5 | reported |" in reported
    assert "#" not in reported.split("| Method")[1]
    assert "arXiv:2409.01502" in reported and "cotracker_w8" in reported


def test_csv_rows_carry_bounds_counts_protocol_and_source(runs):
    board = build_table([load_results(runs[m]) for m in ("amg", "dmt")], load_reported())
    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    measured = [r for r in rows if r["source"] == "measured"]
    reported = [r for r in rows if r["source"] == "reported"]
    assert [r["method"] for r in measured] == ["amg", "dmt"]
    amg = measured[0]
    assert float(amg["clip_score_mean"]) == 33.1 and float(amg["clip_score_ci95_low"]) == 32.0
    assert float(amg["clip_score_ci95_high"]) == 34.2 and amg["clip_score_n"] == "3"
    assert amg["rank"] == "1" and amg["motion_fidelity_dmt_rank"] == "1" and measured[1]["rank"] == "2"
    assert amg["num_clips"] == "3" and amg["num_failures"] == "1" and amg["tracker"] == "cotracker"
    assert amg["protocol_group"] == "P1" and amg["offline_approximation"] == "False"
    assert [r["method"] for r in reported] == ["Ground Truth", "DMT", "MagicAnimate", "AMG"]
    assert all(r["rank"] == "" and r["protocol_group"] == "reported" for r in reported)
    assert float(reported[3]["motion_fidelity_dmt_mean"]) == 69.88 and reported[3]["num_clips"] == "5"
    assert reported[3]["motion_fidelity_dmt_ci95_low"] == ""


def test_different_protocols_are_never_ranked_together(tmp_path):
    root = tmp_path / "runs"
    weak = {"motion_fidelity_dmt": (10.0, 9.0, 11.0)}
    strong = {"motion_fidelity_dmt": (90.0, 89.0, 91.0)}
    paths = [
        write_run(root, "a-cotracker", results_dict("a", weak)),
        write_run(root, "a-klt", results_dict("a", strong, tracker="klt")),
        write_run(root, "b-cotracker", results_dict("b", strong)),
        write_run(root, "c-fewer", results_dict("c", strong, clips=CLIPS[:2])),
        write_run(root, "d-other-data", results_dict("d", strong, fingerprint="fp-other")),
        write_run(root, "e-clip", results_dict("e", strong, clip_model="ViT-B-32")),
    ]
    board = build_table([load_results(p) for p in paths])
    groups = {g.name: [(row.label, row.cells["motion_fidelity_dmt"].rank) for row in g.rows] for g in board.groups}
    # CoTracker groups first (input order), KLT last; only a and b share a protocol
    assert groups == {
        "P1": [("b", 1), ("a [P1]", 2)],
        "P2": [("c", 1)],
        "P3": [("d", 1)],
        "P4": [("e", 1)],
        "P5": [("a [P5]", 1)],
    }
    klt = board.groups[-1]
    assert klt.offline_approximation and "offline approximation" in klt.description
    assert not any(g.offline_approximation for g in board.groups[:-1])
    md = render_markdown(board)
    assert md.count("| Rank | Method") == 5 and "## P5 (KLT offline approximation)" in md


def test_repeated_method_names_get_unique_labels_and_folders(tmp_path):
    root = tmp_path / "runs"
    paths = [write_run(root, f"seed{i}", results_dict("amg/v1", AMG)) for i in range(2)]
    paths.append(write_run(root, "klt", results_dict("amg/v1", AMG, tracker="klt")))
    rows = build_table([load_results(p) for p in paths]).rows
    assert [(r.label, r.slug) for r in rows] == [
        ("amg/v1 [P1] #1", "amg_v1_P1_1"),
        ("amg/v1 [P1] #2", "amg_v1_P1_2"),
        ("amg/v1 [P2]", "amg_v1_P2"),
    ]


def test_ties_share_a_rank_and_missing_metrics_sort_last(tmp_path):
    root = tmp_path / "runs"
    same = {"clip_score": (30.0, 29.0, 31.0), "motion_fidelity_dmt": (50.0, 49.0, 51.0)}
    paths = [
        write_run(root, "x", results_dict("x", {"clip_score": (40.0, 39.0, 41.0)})),
        write_run(root, "y", results_dict("y", same)),
        write_run(root, "z", results_dict("z", same)),
    ]
    board = build_table([load_results(p) for p in paths])
    rows = board.groups[0].rows
    assert [r.label for r in rows] == ["y", "z", "x"]
    assert [r.cells["clip_score"].rank for r in rows] == [2, 2, 1]
    assert "motion_fidelity_dmt" not in rows[2].cells


def test_build_table_refuses_no_results_and_unknown_rank_metric(runs):
    with pytest.raises(ResultsError, match="at least one"):
        build_table([])
    with pytest.raises(ResultsError, match="rank_by.*'fvd'"):
        build_table([load_results(runs["amg"])], rank_by="fvd")


def test_gallery_clips_are_common_ordered_and_capped():
    assert gallery_clips([["a", "b", "c", "d"], ["d", "c", "a"]], 8) == ["a", "c", "d"]
    assert gallery_clips([["a", "b", "c"], ["a", "b", "c"]], 2) == ["a", "b"]
    assert gallery_clips([["a"]], 0) == []


def test_build_writes_every_output_with_reference_columns_from_results(runs, tmp_path):
    out = build_leaderboard(list(runs.values()), tmp_path / "board", max_clips=2)
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.png", "index.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    videos = sorted(p.relative_to(out / "videos").as_posix() for p in (out / "videos").rglob("*.mp4"))
    # ground-truth and avatar results fill the real and avatar columns; two clips (the cap)
    assert videos == sorted(f"{col}/{clip}.mp4" for col in ("real", "avatar", "amg", "dmt") for clip in CLIPS[:2])
    assert (out / "videos/real/src_000000.mp4").read_bytes() == tiny_video(40)
    assert (out / "videos/amg/src_000003.mp4").read_bytes() == tiny_video(200)
    html = (out / "index.html").read_text()
    assert 'src="videos/avatar/src_000003.mp4"' in html and "autoplay muted loop playsinline" in html
    assert "Reported in the paper" in html and "69.88" in html
    assert not list(tmp_path.glob(".board*")), "no temporary folder left behind"


def test_png_chart_is_a_real_image(runs, tmp_path):
    import matplotlib.image

    from amg_bench.leaderboard.plot import render_plot

    board = build_table([load_results(runs[m]) for m in ("amg", "dmt", "ground-truth")])
    path = tmp_path / "chart.png"
    render_plot(board, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 600
    colours = np.unique((image[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 20, "the chart should draw bars, whiskers and text, not a blank canvas"


def test_existing_output_needs_overwrite(runs, tmp_path):
    out = tmp_path / "board"
    build_leaderboard([runs["amg"]], out, reported=None, max_clips=1)
    assert "No source for the real and avatar column(s)" in (out / "index.html").read_text()
    with pytest.raises(OutputExistsError):
        build_leaderboard([runs["amg"]], out, reported=None)
    build_leaderboard([runs["amg"], runs["dmt"]], out, reported=None, max_clips=1, overwrite=True)
    assert "| dmt |" in (out / "leaderboard.md").read_text()
    assert "Reported in the paper" not in (out / "leaderboard.md").read_text()


def test_missing_method_video_is_a_clear_error(runs, tmp_path):
    (runs["dmt"].parent / "videos" / f"{CLIPS[1]}.mp4").unlink()
    with pytest.raises(VideoError, match=f"{CLIPS[1]}.mp4 does not exist"):
        build_leaderboard([runs["amg"], runs["dmt"]], tmp_path / "board")
    assert not (tmp_path / "board").exists()
    (runs["dmt"].parent / "videos" / f"{CLIPS[1]}.mp4").write_bytes(b"not a video")
    with pytest.raises(VideoError, match=f"{CLIPS[1]}.mp4 is not a readable video"):
        build_leaderboard([runs["amg"], runs["dmt"]], tmp_path / "board")


def _write_dataset(folder: Path, clips: list[str]) -> None:
    from datasets import Dataset, Features, Value, Video

    features = Features({"clip_id": Value("string"), "video": Video(), "avatar_video": Video()})
    rows = {
        "clip_id": clips,
        "video": [{"bytes": tiny_video(10 + i), "path": None} for i in range(len(clips))],
        "avatar_video": [{"bytes": tiny_video(100 + i), "path": None} for i in range(len(clips))],
    }
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(folder / "data" / "test-00000-of-00001.parquet"))


def test_gallery_takes_real_and_avatar_from_the_dataset(runs, tmp_path):
    dataset = tmp_path / "dataset"
    _write_dataset(dataset, list(reversed(CLIPS)) + ["src_000099"])
    out = build_leaderboard([runs["amg"], runs["ground-truth"]], tmp_path / "board", dataset=str(dataset), split="test")
    assert (out / "videos/real/src_000000.mp4").read_bytes() == tiny_video(12)
    assert (out / "videos/avatar/src_000006.mp4").read_bytes() == tiny_video(100)
    assert not (out / "videos/ground-truth").exists()  # same clip as "real": not repeated
    assert read_video(out / "videos/amg/src_000003.mp4").shape == (16, 64, 64, 3)
    with pytest.raises(DatasetError, match="has no clips"):
        build_leaderboard([runs["amg"]], tmp_path / "b2", dataset=str(_small_dataset(tmp_path)))
    with pytest.raises(DatasetError, match="split 'train'.*Unknown split"):
        build_leaderboard([runs["amg"]], tmp_path / "b3", dataset=str(dataset), split="train")


def _small_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "small"
    _write_dataset(folder, CLIPS[:1])
    return folder


def test_cli_builds_the_board_and_reports_errors_in_one_line(runs, tmp_path):
    runner = CliRunner()
    out = tmp_path / "board"
    args = ["leaderboard", str(runs["amg"]), str(runs["dmt"].parent), "--out", str(out), "--max-clips", "1"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and (out / "index.html").is_file()
    assert len(list((out / "videos").rglob("*.mp4"))) == 2
    bad = write_run(tmp_path, "bad", _mutate(results_dict("amg", AMG), "protocol.motion.grid_size", 0))
    result = runner.invoke(main, ["leaderboard", str(bad), "--out", str(tmp_path / "b2"), "--no-reported"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "protocol.motion.grid_size" in result.output


def test_html_escapes_names_from_results_files(tmp_path):
    path = write_run(tmp_path / "runs", "evil", results_dict("<script>alert(1)</script>", AMG), shade=90)
    out = build_leaderboard([path], tmp_path / "board", reported=None, max_clips=1)
    html = (out / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (out / "videos" / "script_alert_1_script" / f"{CLIPS[0]}.mp4").is_file()
