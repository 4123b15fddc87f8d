"""Leaderboard: results validation, protocol grouping and ranks, Markdown / CSV / PNG, CLI, gallery."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from amg_bench.cli import main
from amg_bench.errors import DatasetError, OutputExistsError, ResultsError
from amg_bench.evaluation.aggregate import INTERVAL
from amg_bench.leaderboard import DEFAULT_REPORTED, build_leaderboard, build_table, gallery_clips, load_reported
from amg_bench.leaderboard.markdown_csv import render_csv, render_markdown
from amg_bench.leaderboard.table import _competition_ranks
from amg_bench.results import (
    ClipProtocol,
    DatasetRecord,
    Failure,
    MethodRecord,
    MetricSummary,
    MotionProtocol,
    Protocol,
    Results,
)
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


def make_results(
    method: str,
    metrics: dict,
    tracker: str = "cotracker",
    clips: list[str] = CLIPS,
    fingerprint: str = "fp-abc",
    clip_model: str = "ViT-L-14",
    role: str = "method",
    requires: tuple[str, ...] = ("condition", "prompt"),
    uses_prompt: bool = True,
    protocol: str = "full",
    n_sources: int = 2,
    failures: tuple[Failure, ...] = (),
) -> Results:
    """Results built from the schema's own dataclasses; ``metrics``: key -> (mean, ci low, ci high)."""
    config = {"model": "cotracker3_offline", "repo": "facebookresearch/co-tracker", "checkpoint": "hub default"}
    if tracker == "klt":
        config = {"window_size": 21, "pyramid_levels": 3, "max_error": 50.0}
    motion = MotionProtocol(tracker, config, 55, (256, 256), ("chamfer", "dmt"), "real", True, False)
    clip = ClipProtocol(clip_model, "openai", 77, "float32", "quick_gelu")
    encoding = {"codec": "libx264", "pix_fmt": "yuv420p", "crf": 0}
    return Results(
        method=MethodRecord(
            method, {"steps": 25}, f"pkg.mod:{method}", None, tuple(sorted(requires)), uses_prompt, role
        ),
        dataset=DatasetRecord("demo_data/built", "test", fingerprint, None),
        protocol=Protocol(protocol, clip, motion, 16, 8.0, encoding, INTERVAL),
        metrics={
            key: MetricSummary(mean, None if low is None else (low, high), len(clips), n_sources)
            for key, (mean, low, high) in metrics.items()
        },
        num_clips=len(clips),
        clips=tuple(clips),
        failures=failures,
        diagnostics={"motion_points_dropped": MetricSummary(120.0, (100.0, 140.0), len(clips), n_sources)},
        versions={"amg_bench": "0.1.0", "torch": "2.14.1"},
        created="2026-11-26T17:00:00+00:00",
    )


def write_run(root: Path, name: str, results: Results | dict, shade: int | None = None) -> Path:
    """Write ``root/name/results.json`` and, with ``shade``, one video per listed clip that did not fail."""
    data = results.to_dict() if isinstance(results, Results) else results
    run = root / name
    (run / "videos").mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps(data))
    if shade is not None:
        failed = {f["clip_id"] for f in data["failures"]}
        for clip_id in data["clips"]:
            if clip_id not in failed:
                (run / "videos" / f"{clip_id}.mp4").write_bytes(tiny_video(shade))
    return run / "results.json"


# metric -> (mean, interval low, interval high)
AMG = {
    "clip_score": (33.1, 32.0, 34.2),
    "motion_fidelity_chamfer": (71.0, 68.0, 74.0),
    "motion_fidelity_dmt": (69.5, 66.5, 72.5),
}
DMT = {
    "clip_score": (32.4, 31.0, 33.8),
    "motion_fidelity_chamfer": (58.0, 55.0, 61.0),
    "motion_fidelity_dmt": (56.25, 53.0, 59.5),
}
GT = {
    "clip_score": (34.4, 33.4, 35.4),
    "motion_fidelity_chamfer": (100.0, 100.0, 100.0),
    "motion_fidelity_dmt": (99.9, 99.8, 99.95),
}
FROZEN = {"motion_fidelity_chamfer": (0.0, 0.0, 0.0), "motion_fidelity_dmt": (0.0, 0.0, 0.0)}


@pytest.fixture()
def runs(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "runs"
    reference = dict(role="reference")
    return {
        "amg": write_run(root, "amg", make_results("amg", AMG), shade=200),
        "dmt": write_run(root, "dmt", make_results("dmt", DMT), shade=120),
        "ground-truth": write_run(
            root,
            "ground-truth",
            make_results("ground-truth", GT, requires=("video",), uses_prompt=False, **reference),
            shade=40,
        ),
        "avatar": write_run(
            root,
            "avatar",
            make_results(
                "avatar", {"clip_score": (20.0, 19.0, 21.0)}, requires=("condition",), uses_prompt=False, **reference
            ),
            shade=250,
        ),
        "frozen": write_run(root, "frozen", make_results("frozen", FROZEN, role="calibration"), shade=15),
    }


# ---- the results schema ----------------------------------------------------------------------


def test_results_round_trip_through_the_schema(runs):
    results = Results.load(runs["amg"].parent)  # a run folder means its results.json
    assert results == replace(make_results("amg", AMG), path=runs["amg"])
    assert results.method.name == "amg" and results.num_clips == 3 and results.clips == tuple(CLIPS)
    assert results.metrics["clip_score"] == MetricSummary(33.1, (32.0, 34.2), 3, 2)
    assert results.protocol.motion.tracker == "cotracker" and results.protocol.motion.eval_size == (256, 256)
    assert results.video_path("src_000003") == runs["amg"].parent / "videos" / "src_000003.mp4"
    assert Results.from_dict(results.to_dict(), runs["amg"]) == results


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
        ("schema_version", 3, "schema_version"),
        ("method.name", "", "method.name"),
        ("method", _DELETE, "method"),
        ("method.role", "winner", "method.role"),
        ("dataset.fingerprint", 5, "dataset.fingerprint"),
        ("protocol.name", "mine", "protocol.name"),
        ("protocol.motion.tracker", "raft", "protocol.motion.tracker"),
        ("protocol.motion.eval_size", [256], "protocol.motion.eval_size"),
        ("protocol.motion.variants", ["dmt", "l2"], "protocol.motion.variants"),
        ("protocol.fps", "eight", "protocol.fps"),
        ("metrics.clip_score.mean", float("nan"), "metrics.clip_score.mean"),
        ("metrics.clip_score.ci95", [35.0, 30.0], "metrics.clip_score.ci95"),
        ("metrics.clip_score.n", 99, "metrics.clip_score.n"),
        ("metrics.clip_score.n_sources", 4, "metrics.clip_score.n_sources"),
        ("metrics.fvd", {"mean": 1.0, "ci95": [0, 2], "n": 3, "n_sources": 1}, "metrics.fvd"),
        ("protocol.clip", None, "protocol.clip"),
        ("num_clips", 4, "clips"),
        ("clips", ["a", "a", "b"], "clips"),
        ("clips", ["../escape", "b", "c"], "clips"),
        ("failures", [{"clip_id": "x"}], "failures[0].reason"),
        ("videos_dir", "/etc", "videos_dir"),
        ("videos_dir", "../other_run/videos", "videos_dir"),
    ],
)
def test_bad_results_file_names_file_and_field(tmp_path, field, value, named):
    path = write_run(tmp_path, "bad", _mutate(make_results("amg", AMG).to_dict(), field, value))
    with pytest.raises(ResultsError) as info:
        Results.load(path)
    message = str(info.value)
    assert str(path) in message and repr(named) in message, message


def test_an_old_results_file_is_refused_with_a_hint(tmp_path):
    path = write_run(tmp_path, "old", _mutate(make_results("amg", AMG).to_dict(), "schema_version", 1))
    with pytest.raises(ResultsError, match="older amg-bench: re-run `amg-bench evaluate`"):
        Results.load(path)


def test_motion_metric_needs_its_variant_in_the_protocol(tmp_path):
    data = _mutate(make_results("amg", AMG).to_dict(), "protocol.motion.variants", ["chamfer"])
    with pytest.raises(ResultsError, match="protocol.motion.variants.*'dmt'"):
        Results.from_dict(data, tmp_path / "r.json")


def test_missing_and_non_json_results_files(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        Results.load(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ResultsError, match="broken.json: not valid JSON"):
        Results.load(tmp_path / "broken.json")


# ---- the paper's table -----------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "edit, named",
    [
        (lambda raw: raw["rows"][1]["metrics"].update(clip_score={"value": 32.51}), r"rows\[1\]\.metrics\.clip_score"),
        (lambda raw: raw["citation"].update(url="javascript:alert(1)"), r"citation\.url.*http\(s\)"),
    ],
)
def test_bad_reported_table_is_refused(tmp_path, edit, named):
    raw = json.loads(DEFAULT_REPORTED.read_text())
    edit(raw)
    path = tmp_path / "reported.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match=named):
        load_reported(path)


# ---- tables ----------------------------------------------------------------------------------


def _table_lines(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if line.startswith("| ") and "Rank" not in line and "setting" not in line
    ]


def test_markdown_ranks_methods_only_and_labels_references_and_calibrations(runs):
    results = [Results.load(runs[m]) for m in ("frozen", "dmt", "ground-truth", "amg")]
    md = render_markdown(build_table(results, load_reported()))
    measured, reported = md.split("## Reported in the paper")
    lines = [line for line in _table_lines(measured) if line.count("|") > 6]
    # methods by DMT motion fidelity, then the reference, then the calibration; only methods have a rank
    assert [line.split(" | ")[1] for line in lines] == ["amg", "dmt", "ground-truth", "frozen"]
    assert [line.split(" | ")[0] for line in lines] == ["| 1", "| 2", "| —", "| —"]
    amg = lines[0]
    assert "33.10 ± 1.10 (#1)" in amg and "71.00 ± 3.00 (#1)" in amg and "69.50 ± 3.00 (#1)" in amg
    assert amg.endswith("| 120 | 3 (n < 20) | 0 | n &lt; 20 clips |")  # points dropped, clips, failures, notes
    gt = lines[2]
    assert "100.00 ± 0.00" in gt and "(#" not in gt and "reference; reads the real clip" in gt
    assert "34.40 ± 1.00 (prompt not read)" in gt and "never reads the prompt" in gt
    assert "calibration" in lines[3]
    # the protocol is a table of its settings in words, not raw JSON
    for part in (
        "| protocol | full: every test clip; CoTracker 3",
        "| tracker | CoTracker cotracker3_offline",
        "| lost points | dropped from both videos",
        "| interval | 95% cluster-robust t-interval",
        "fingerprint fp-abc",
    ):
        assert part in measured, part
    assert "{" not in measured
    # the paper's numbers appear only in the reported block, each labelled and unranked
    assert "34.43" not in measured and "69.88" not in measured
    assert "| AMG | 33.59 | 69.88 | 5 | reported |" in reported
    assert "| MagicAnimate | 33.23 | 26.53 | 5 | reported |" in reported
    assert "#" not in reported.split("| Method")[1]
    assert "arXiv:2409.01502" in reported and "cotracker_w8" in reported


def test_a_single_source_gets_no_interval(tmp_path):
    path = write_run(tmp_path, "one", make_results("amg", {"motion_fidelity_dmt": (50.0, None, None)}, n_sources=1))
    md = render_markdown(build_table([Results.load(path)]))
    assert "50.00 (no interval: 1 source; #1)" in md


def test_csv_rows_carry_bounds_counts_roles_protocol_and_source(runs):
    results = [Results.load(runs[m]) for m in ("amg", "dmt", "ground-truth")]
    rows = list(csv.DictReader(io.StringIO(render_csv(build_table(results, load_reported())))))
    measured = [r for r in rows if r["source"] == "measured"]
    reported = [r for r in rows if r["source"] == "reported"]
    assert [r["method"] for r in measured] == ["amg", "dmt", "ground-truth"]
    amg, _, gt = measured
    assert float(amg["clip_score_mean"]) == 33.1 and float(amg["clip_score_ci95_low"]) == 32.0
    assert float(amg["clip_score_ci95_high"]) == 34.2 and amg["clip_score_n"] == "3"
    assert amg["clip_score_n_sources"] == "2" and amg["small_n"] == "True" and amg["role"] == "method"
    assert amg["rank"] == "1" and amg["motion_fidelity_dmt_rank"] == "1" and measured[1]["rank"] == "2"
    assert gt["rank"] == "" and gt["role"] == "reference" and gt["reads_real_video"] == "True"
    assert gt["uses_prompt"] == "False" and float(amg["points_dropped_mean"]) == 120.0
    assert amg["num_clips"] == "3" and amg["tracker"] == "cotracker" and amg["protocol_name"] == "full"
    assert amg["protocol_group"] == "P1" and amg["offline_approximation"] == "False"
    assert [r["method"] for r in reported] == ["Ground Truth", "DMT", "MagicAnimate", "AMG"]
    assert all(r["rank"] == "" and r["protocol_group"] == "reported" for r in reported)
    assert float(reported[3]["motion_fidelity_dmt_mean"]) == 69.88 and reported[3]["num_clips"] == "5"
    assert reported[3]["motion_fidelity_dmt_ci95_low"] == ""


def test_user_text_is_escaped_in_markdown_and_neutralised_in_csv(tmp_path):
    path = write_run(tmp_path, "evil", make_results('=HYPERLINK("x")|<b>bold</b>', AMG))
    board = build_table([Results.load(path)])
    md = render_markdown(board)
    assert "<b>" not in md and "&lt;b&gt;bold&lt;/b&gt;" in md and '=HYPERLINK("x")\\|' in md
    row = next(csv.DictReader(io.StringIO(render_csv(board))))
    assert row["method"].startswith("'=HYPERLINK") and row["label"].startswith("'=")


def test_different_protocols_are_never_ranked_together(tmp_path):
    root = tmp_path / "runs"
    weak = {"motion_fidelity_dmt": (10.0, 9.0, 11.0)}
    strong = {"motion_fidelity_dmt": (90.0, 89.0, 91.0)}
    paths = [
        write_run(root, "a-cotracker", make_results("a", weak)),
        write_run(root, "a-klt", make_results("a", strong, tracker="klt", protocol="offline")),
        write_run(root, "b-cotracker", make_results("b", strong)),
        write_run(root, "c-fewer", make_results("c", strong, clips=CLIPS[:2])),
        write_run(root, "d-other-data", make_results("d", strong, fingerprint="fp-other")),
        write_run(root, "e-clip", make_results("e", strong, clip_model="ViT-B-32")),
        write_run(root, "f-custom", make_results("f", strong, protocol="custom")),
    ]
    board = build_table([Results.load(p) for p in paths])
    groups = {g.name: [(row.label, row.cells["motion_fidelity_dmt"].rank) for row in g.rows] for g in board.groups}
    # CoTracker groups first (input order), KLT last; only a and b share a protocol
    assert groups == {
        "P1": [("b", 1), ("a [P1]", 2)],
        "P2": [("c", 1)],
        "P3": [("d", 1)],
        "P4": [("e", 1)],
        "P5": [("f", 1)],
        "P6": [("a [P6]", 1)],
    }
    klt = board.groups[-1]
    assert klt.offline_approximation and "offline approximation" in klt.description and klt.protocol == "offline"
    assert not any(g.offline_approximation for g in board.groups[:-1])
    md = render_markdown(board)
    assert md.count("| Rank | Method") == 6 and "## P6: protocol `offline` (KLT offline approximation)" in md


def test_repeated_method_names_get_unique_labels_and_folders(tmp_path):
    root = tmp_path / "runs"
    paths = [write_run(root, f"seed{i}", make_results("amg/v1", AMG)) for i in range(2)]
    paths.append(write_run(root, "klt", make_results("amg/v1", AMG, tracker="klt")))
    rows = build_table([Results.load(p) for p in paths]).rows
    assert [(r.label, r.slug) for r in rows] == [
        ("amg/v1 [P1] #1", "m00-amg_v1_P1_1"),
        ("amg/v1 [P1] #2", "m01-amg_v1_P1_2"),
        ("amg/v1 [P2]", "m02-amg_v1_P2"),
    ]


def test_ties_share_a_rank_and_missing_metrics_sort_last(tmp_path):
    root = tmp_path / "runs"
    same = {"clip_score": (30.0, 29.0, 31.0), "motion_fidelity_dmt": (50.0, 49.0, 51.0)}
    paths = [
        write_run(root, "x", make_results("x", {"clip_score": (40.0, 39.0, 41.0)})),
        write_run(root, "y", make_results("y", same)),
        write_run(root, "z", make_results("z", same)),
    ]
    rows = build_table([Results.load(p) for p in paths]).groups[0].rows
    assert [r.label for r in rows] == ["y", "z", "x"]
    assert [r.cells["clip_score"].rank for r in rows] == [2, 2, 1]
    assert "motion_fidelity_dmt" not in rows[2].cells


def test_ranks_follow_each_metrics_direction():
    assert _competition_ranks({"a": 3.0, "b": 1.0, "c": 3.0}, higher_is_better=True) == {"a": 1, "b": 3, "c": 1}
    assert _competition_ranks({"a": 3.0, "b": 1.0, "c": 2.0}, higher_is_better=False) == {"a": 3, "b": 1, "c": 2}


def test_build_table_refuses_no_results_and_unknown_rank_metric(runs):
    with pytest.raises(ResultsError, match="at least one"):
        build_table([])
    with pytest.raises(ResultsError, match="rank_by.*'fvd'"):
        build_table([Results.load(runs["amg"])], rank_by="fvd")


# ---- the folder, the gallery and the CLI -----------------------------------------------------


def test_gallery_clips_are_common_ordered_and_capped():
    assert gallery_clips([["a", "b", "c", "d"], ["d", "c", "a"]], 8) == ["a", "c", "d"]
    assert gallery_clips([["a", "b", "c"], ["a", "b", "c"]], 2) == ["a", "b"]
    assert gallery_clips([["a"]], 0) == []


def _videos(out: Path) -> list[str]:
    return sorted(p.relative_to(out / "videos").as_posix() for p in (out / "videos").rglob("*.mp4"))


def test_build_writes_every_output_with_reference_columns_from_results(runs, tmp_path):
    out = build_leaderboard(
        [runs[m] for m in ("amg", "dmt", "ground-truth", "avatar")], tmp_path / "board", max_clips=2
    )
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.png", "index.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    # ground-truth and avatar results fill the real and avatar columns; two clips (the cap)
    folders = {"real", "avatar", "m00-amg", "m01-dmt"}
    assert _videos(out) == sorted(f"{col}/{clip}.mp4" for col in folders for clip in CLIPS[:2])
    assert (out / "videos/real/src_000000.mp4").read_bytes() == tiny_video(40)
    assert (out / "videos/m00-amg/src_000003.mp4").read_bytes() == tiny_video(200)
    html = (out / "index.html").read_text()
    assert 'src="videos/avatar/src_000003.mp4"' in html and "autoplay muted loop playsinline" in html
    assert "Reported in the paper" in html and "69.88" in html
    assert not list(tmp_path.glob(".board*")), "no temporary folder left behind"
    assert os.stat(out).st_mode & 0o077 == 0o777 & ~_umask() & 0o077, "the folder keeps ordinary permissions"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_png_chart_is_a_real_image(runs, tmp_path):
    import matplotlib.image

    from amg_bench.leaderboard.plot import render_plot

    board = build_table([Results.load(runs[m]) for m in ("amg", "dmt", "ground-truth", "frozen")])
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


def test_a_failed_or_missing_clip_shows_in_its_cell_and_the_page_is_built(tmp_path, runs):
    failed = make_results("dmt", DMT, failures=(Failure(CLIPS[1], "generate: RuntimeError: out of memory"),))
    path = write_run(tmp_path / "runs", "dmt-failed", failed, shade=120)
    (runs["amg"].parent / "videos" / f"{CLIPS[2]}.mp4").write_bytes(b"not a video")
    out = build_leaderboard([runs["amg"], path], tmp_path / "board", reported=None)
    html = (out / "index.html").read_text()
    assert "failed: generate: RuntimeError: out of memory" in html and "unreadable video" in html
    assert f"m01-dmt/{CLIPS[1]}.mp4" not in _videos(out) and f"m01-dmt/{CLIPS[0]}.mp4" in _videos(out)


def test_a_run_where_every_clip_failed_is_a_row_with_its_failures(tmp_path):
    failures = tuple(Failure(c, "generate: RuntimeError: out of memory") for c in CLIPS)
    path = write_run(tmp_path / "runs", "all-failed", make_results("dmt", {}, failures=failures), shade=90)
    out = build_leaderboard([path], tmp_path / "board", reported=None)
    rows = [line for line in _table_lines((out / "leaderboard.md").read_text()) if "| dmt |" in line]
    assert len(rows) == 1 and f"| {len(CLIPS)} |" in rows[0]  # the failures column
    assert (out / "leaderboard.png").read_bytes().startswith(b"\x89PNG")
    assert "failed: generate: RuntimeError: out of memory" in (out / "index.html").read_text()


def test_gallery_folders_never_collide(tmp_path):
    paths = [
        write_run(tmp_path / "runs", name, make_results(name, AMG), shade=shade)
        for name, shade in (("real", 60), ("method-real", 90))
    ]
    out = build_leaderboard(paths, tmp_path / "board", reported=None)
    assert (out / "videos/m00-real" / f"{CLIPS[0]}.mp4").read_bytes() == tiny_video(60)
    assert (out / "videos/m01-method-real" / f"{CLIPS[0]}.mp4").read_bytes() == tiny_video(90)


def test_a_video_linked_from_outside_the_results_folder_is_not_copied(tmp_path, runs):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(tiny_video(77))
    video = runs["amg"].parent / "videos" / f"{CLIPS[0]}.mp4"
    video.unlink()
    video.symlink_to(secret)
    out = build_leaderboard([runs["amg"]], tmp_path / "board", reported=None)
    assert f"m00-amg/{CLIPS[0]}.mp4" not in _videos(out)
    assert "outside the results folder" in (out / "index.html").read_text()


def _write_dataset(folder: Path, clips: list[str], path_only: bool = False) -> None:
    from datasets import Dataset, Features, Value, Video

    features = Features({"clip_id": Value("string"), "video": Video(), "avatar_video": Video()})
    rows = {
        "clip_id": clips,
        "video": [{"bytes": tiny_video(10 + i), "path": None} for i in range(len(clips))],
        "avatar_video": [{"bytes": tiny_video(100 + i), "path": None} for i in range(len(clips))],
    }
    if path_only:
        rows["video"] = [{"bytes": None, "path": "/etc/hostname"} for _ in clips]
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(folder / "data" / "test-00000-of-00001.parquet"))


def test_gallery_takes_real_and_avatar_from_the_dataset(runs, tmp_path):
    dataset = tmp_path / "dataset"
    _write_dataset(dataset, [*reversed(CLIPS), "src_000099"])
    out = build_leaderboard([runs["amg"], runs["ground-truth"]], tmp_path / "board", dataset=str(dataset), split="test")
    assert (out / "videos/real/src_000000.mp4").read_bytes() == tiny_video(12)
    assert (out / "videos/avatar/src_000006.mp4").read_bytes() == tiny_video(100)
    assert not any("ground-truth" in p for p in _videos(out))  # same clip as "real": not repeated
    assert read_video(out / "videos/m00-amg/src_000003.mp4").shape == (16, 64, 64, 3)
    small = tmp_path / "small"
    _write_dataset(small, CLIPS[:1])
    with pytest.raises(DatasetError, match="has no clips"):
        build_leaderboard([runs["amg"]], tmp_path / "b2", dataset=str(small))
    with pytest.raises(DatasetError, match="cannot load dataset.*train"):
        build_leaderboard([runs["amg"]], tmp_path / "b3", dataset=str(dataset), split="train")


def test_a_dataset_cell_pointing_at_a_local_file_is_never_read(runs, tmp_path):
    dataset = tmp_path / "dataset"
    _write_dataset(dataset, CLIPS, path_only=True)
    with pytest.raises(DatasetError, match="only a path .*/etc/hostname.*not read"):
        build_leaderboard([runs["amg"]], tmp_path / "board", dataset=str(dataset))
    assert not (tmp_path / "board").exists()


def test_cli_builds_the_board_and_reports_errors_in_one_line(runs, tmp_path):
    runner = CliRunner()
    out = tmp_path / "board"
    args = ["leaderboard", str(runs["amg"]), str(runs["dmt"].parent), "--out", str(out), "--max-clips", "1"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and (out / "index.html").is_file()
    assert len(list((out / "videos").rglob("*.mp4"))) == 2
    bad = write_run(tmp_path, "bad", _mutate(make_results("amg", AMG).to_dict(), "protocol.motion.grid_size", 0))
    result = runner.invoke(main, ["leaderboard", str(bad), "--out", str(tmp_path / "b2"), "--no-reported"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "protocol.motion.grid_size" in result.output


def test_html_escapes_names_from_results_files(tmp_path):
    path = write_run(tmp_path / "runs", "evil", make_results("<script>alert(1)</script>", AMG), shade=90)
    out = build_leaderboard([path], tmp_path / "board", reported=None, max_clips=1)
    html = (out / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (out / "videos" / "m00-script_alert_1_script" / f"{CLIPS[0]}.mp4").is_file()
