"""``amg-bench demo``: evaluate the reference methods on a built dataset and write the leaderboard."""

from click.testing import CliRunner

from amg_bench.cli import main
from amg_bench.data.builder import BuildConfig, build_dataset
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.demo_motion import Leg, PersonScript, SceneScript
from amg_bench.results import Results

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
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # an empty Hugging Face cache: CLIP is never there
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    manifest = write_demo_sources(tmp_path / "sources", seed=1, scenes=[SCENE])
    dataset = tmp_path / "ds"
    build_dataset(manifest, dataset, BuildConfig(train_size=8, resolution=64), progress=False)
    runs, board = tmp_path / "runs", tmp_path / "board"
    result = CliRunner().invoke(
        main, ["demo", "--dataset", str(dataset), "--runs", str(runs), "--out", str(board), "--grid-size", "6"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "CLIP score skipped" in result.output and "hf download timm/vit_large_patch14_clip_224.openai" in result.output
    )
    metrics = {}
    for method in ("ground-truth", "avatar", "frozen", "shuffled"):
        results = Results.load(runs / method)
        assert results.num_clips == 3 and not results.failures
        assert results.protocol.motion.tracker == "klt" and results.protocol.clip is None
        assert results.protocol.name == "custom"  # the offline protocol at grid 6
        assert {"motion_fidelity_chamfer", "motion_fidelity_dmt"} <= set(results.metrics)
        metrics[method] = results.metrics["motion_fidelity_chamfer"].mean
    # (on the full demo, 256x256 at grid 55, ground-truth scores 99.95; this 64x64 scene has still windows)
    assert metrics["ground-truth"] > 80 and metrics["frozen"] == 0.0
    assert metrics["ground-truth"] > metrics["avatar"] and metrics["ground-truth"] > metrics["shuffled"]
    markdown = (board / "leaderboard.md").read_text()
    assert "ground-truth" in markdown and "calibration" in markdown and "Reported in the paper" in markdown
    assert (board / "index.html").is_file() and (board / "leaderboard.png").stat().st_size > 1000
