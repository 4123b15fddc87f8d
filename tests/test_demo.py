"""``amg-bench demo``: evaluate the reference methods on a built dataset and write the leaderboard."""

import json

from click.testing import CliRunner

from amg_bench.cli import main
from amg_bench.data.builder import BuildConfig, build_dataset
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.demo_motion import Leg, PersonScript, SceneScript

SCENE = SceneScript(
    id="demojob",
    num_frames=56,
    setting="a test yard",
    atmosphere="quiet",
    people=(PersonScript("person0", (-1.0, 1.0), (Leg(55, (1.0, 1.5)),), shirt="red", trousers="grey"),),
    phases=((0, "a person walks"),),
)


def test_demo_job_on_a_built_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("AMG_BENCH_CACHE", str(tmp_path / "cache"))
    manifest = write_demo_sources(tmp_path / "sources", seed=1, scenes=[SCENE])
    dataset = tmp_path / "ds"
    build_dataset(manifest, dataset, BuildConfig(train_size=8, resolution=64), progress=False)
    runs, board = tmp_path / "runs", tmp_path / "board"
    result = CliRunner().invoke(
        main, ["demo", "--dataset", str(dataset), "--runs", str(runs), "--out", str(board), "--grid-size", "6"]
    )
    assert result.exit_code == 0, result.output
    assert "CLIP score skipped" in result.output and "download" in result.output
    for method in ("ground-truth", "avatar"):
        results = json.loads((runs / method / "results.json").read_text())
        assert results["num_clips"] == 3 and not results["failures"]
        assert results["protocol"]["motion"]["tracker"] == "klt" and results["protocol"]["clip"] is None
        assert set(results["metrics"]) == {"motion_fidelity_chamfer", "motion_fidelity_dmt"}
    gt = json.loads((runs / "ground-truth" / "results.json").read_text())["metrics"]
    av = json.loads((runs / "avatar" / "results.json").read_text())["metrics"]
    assert gt["motion_fidelity_chamfer"]["mean"] > av["motion_fidelity_chamfer"]["mean"]
    markdown = (board / "leaderboard.md").read_text()
    assert "ground-truth" in markdown and "avatar" in markdown and "Reported in the paper" in markdown
    assert (board / "index.html").is_file() and (board / "leaderboard.png").stat().st_size > 1000
