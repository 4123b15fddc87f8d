"""Bad input through the CLI, as a careless or hostile user gives it.

Every case asserts the same contract: exit code 1 (2 for a usage error), exactly one
``error: ...`` line on stderr naming the offending file, field or value, no traceback, and no
output left behind that looks complete. Cases are small functions registered with :func:`case`;
each gets an :class:`Env` with lazily made, private copies of a real demo source, a real built
dataset and a real scored run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from datasets_for_tests import save_tiny_clip
from scenes_for_tests import short_scene

from amg_bench.cli import main
from amg_bench.data.builder import BuildConfig, build_dataset
from amg_bench.data.demo import write_demo_sources
from amg_bench.video import read_video, write_video

SIZE = 32


# ---- shared material, made once per module ---------------------------------------------------


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """A demo source, a dataset built from it, a tiny CLIP and a ground-truth run scored on it."""
    root = tmp_path_factory.mktemp("material")
    manifest = write_demo_sources(root / "sources", seed=5, scenes=[short_scene("tiny")])
    dataset = root / "dataset"
    build_dataset(manifest, dataset, BuildConfig(train_size=4, resolution=SIZE), progress=False)
    clip = save_tiny_clip(root / "clip")
    run = root / "run"
    result = CliRunner().invoke(main, [*evaluate_args(dataset, run, clip, root / "cache"), "--limit", "2"])
    assert result.exit_code == 0, result.output
    return {"sources": manifest.parent, "dataset": dataset, "clip": clip, "run": run, "cache": root / "cache"}


def evaluate_args(dataset, out, clip, cache, method="ground-truth"):
    return ["evaluate", "--method", method, "--dataset", str(dataset), "--out", str(out), "--protocol", "offline",
            "--grid-size", "6", "--eval-size", f"{SIZE}x{SIZE}", "--clip-model", clip, "--cache-dir", str(cache),
            "--no-progress"]  # fmt: skip


@dataclass
class Env:
    """What one case may use; copies are made on first use, so a case may damage them."""

    tmp: Path
    material: dict
    _copies: dict = field(default_factory=dict)

    def _copy(self, name: str) -> Path:
        if name not in self._copies:
            self._copies[name] = Path(shutil.copytree(self.material[name], self.tmp / name))
        return self._copies[name]

    @property
    def sources(self) -> Path:
        return self._copy("sources")

    @property
    def dataset(self) -> Path:
        return self._copy("dataset")

    @property
    def run(self) -> Path:
        return self._copy("run")

    @property
    def out(self) -> Path:
        """The output path a case writes to; it must not exist afterwards."""
        return self.tmp / "out"

    def build(self, *extra: str) -> list[str]:
        return ["build-dataset", "--manifest", str(self.sources / "manifest.yaml"), "--out", str(self.out),
                "--resolution", str(SIZE), "--train-size", "4", *extra]  # fmt: skip

    def evaluate(self, *extra: str, method: str = "ground-truth", dataset: Path | None = None) -> list[str]:
        cache = self.material["cache"]
        return [*evaluate_args(dataset or self.dataset, self.out, self.material["clip"], cache, method), *extra]

    def shard(self) -> Path:
        return next((self.dataset / "data").glob("test-*.parquet"))


@dataclass
class Case:
    name: str
    make: Callable[[Env], list[str]]
    expect: tuple[str, ...]
    code: int
    out_may_exist: bool


CASES: list[Case] = []


def case(*expect: str, code: int = 1, out_may_exist: bool = False):
    """Register ``make(env) -> argv``; the error line must contain every string of ``expect``."""

    def register(make):
        CASES.append(Case(make.__name__, make, expect, code, out_may_exist))
        return make

    return register


@pytest.mark.parametrize("bad", CASES, ids=lambda c: c.name)
def test_bad_input(bad: Case, material, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = Env(tmp_path, material)
    args = bad.make(env)
    before = set(tmp_path.rglob("*"))
    result = CliRunner().invoke(main, [str(a) for a in args])
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output, output
    assert result.exit_code == bad.code, output
    prefix = "error: " if bad.code == 1 else "Error: "
    errors = [line for line in result.stderr.splitlines() if line.lower().startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(prefix), output
    if bad.code == 1:  # the error line ends the output (progress bars may come before it)
        assert result.stderr.strip().splitlines()[-1] == errors[0], output
    for needle in bad.expect:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    if not bad.out_may_exist:
        assert not env.out.exists() or env.out in before, f"{env.out} was written"
    leftovers = [p for p in set(tmp_path.rglob("*")) - before if ".partial" in p.name or p.name.startswith(".tmp")]
    assert not leftovers, leftovers


def test_there_are_enough_cases():
    assert len(CASES) >= 60


# ---- helpers that damage copies -------------------------------------------------------------


def _edit_manifest(env: Env, change: Callable[[dict], None]) -> None:
    path = env.sources / "manifest.yaml"
    manifest = yaml.safe_load(path.read_text())
    change(manifest)
    path.write_text(yaml.safe_dump(manifest))


def _motion_arrays(env: Env) -> dict:
    with np.load(env.sources / "tiny.npz") as data:
        return dict(data)


def _save_arrays(path: Path, arrays: dict) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _edit_card(env: Env, change: Callable[[str], str]) -> None:
    card = env.dataset / "README.md"
    card.write_text(change(card.read_text()))


def _edit_rows(env: Env, change: Callable) -> None:
    """Rewrite the test shard with ``change(table) -> table`` (pyarrow), keeping the build info's sha256 in step."""
    import hashlib

    import pyarrow.parquet as pq

    shard = env.shard()
    pq.write_table(change(pq.read_table(shard)), shard)
    info_path = env.dataset / "amg_bench_build.json"
    info = json.loads(info_path.read_text())
    name = f"data/{shard.name}"
    for split in info["splits"].values():
        if name in split["files"]:
            split["files"][name] = hashlib.sha256(shard.read_bytes()).hexdigest()
    info_path.write_text(json.dumps(info))


def _set_column(table, column: str, values: list):
    import pyarrow as pa

    index = table.column_names.index(column)
    return table.set_column(index, table.schema.field(index), pa.array(values, type=table.schema.field(index).type))


def _plugin(env: Env, source: str) -> str:
    """A plugin module in the working directory, named after the test (imported modules are cached)."""
    name = f"plugin_{env.tmp.name.replace('-', '_')}"
    (env.tmp / f"{name}.py").write_text(source)
    return f"{name}:Broken"


# ---- build-dataset --------------------------------------------------------------------------


@case("--manifest", "--demo", code=2)
def build_without_a_source(env):
    return ["build-dataset", "--out", env.out]


@case("manifest", "nope.yaml", "does not exist")
def build_missing_manifest(env):
    return ["build-dataset", "--manifest", env.tmp / "nope.yaml", "--out", env.out]


@case("manifest.yaml", "line")
def build_malformed_manifest_yaml(env):
    (env.sources / "manifest.yaml").write_text("sources:\n  - id: a\n    video: [unclosed\n  bad: : :\n")
    return env.build()


@case("manifest.yaml", "sources")
def build_manifest_not_a_mapping(env):
    (env.sources / "manifest.yaml").write_text("- just\n- a list\n")
    return env.build()


@case("sources[0].video", "is a folder")
def build_video_is_a_directory(env):
    (env.sources / "tiny.mp4").unlink()
    (env.sources / "tiny.mp4").mkdir()
    return env.build()


@case("tiny.npz", "not an npz")
def build_motion_is_a_text_file(env):
    (env.sources / "tiny.npz").write_text("this is not a motion\n")
    return env.build()


@case("tiny.npz", "body_pose", "numbers")
def build_motion_with_strings(env):
    arrays = _motion_arrays(env)
    arrays["body_pose"] = np.full(arrays["body_pose"].shape, "x", dtype="<U3")
    _save_arrays(env.sources / "tiny.npz", arrays)
    return env.build()


@case("tiny.npz", "'valid' must be a bool")
def build_motion_with_integer_validity(env):
    arrays = _motion_arrays(env)
    arrays["valid"] = arrays["valid"].astype(np.int64)
    _save_arrays(env.sources / "tiny.npz", arrays)
    return env.build()


@case("tiny.npz", "'fps' must hold numbers")
def build_motion_with_a_text_frame_rate(env):
    arrays = _motion_arrays(env)
    arrays["fps"] = np.asarray("fast")
    _save_arrays(env.sources / "tiny.npz", arrays)
    return env.build()


@case("tiny.npz", "format_version")
def build_motion_of_another_format_version(env):
    arrays = _motion_arrays(env)
    arrays["format_version"] = np.asarray("two")
    _save_arrays(env.sources / "tiny.npz", arrays)
    return env.build()


@case("tiny.npz", "misses keys", "valid")
def build_motion_missing_a_key(env):
    arrays = _motion_arrays(env)
    del arrays["valid"]
    _save_arrays(env.sources / "tiny.npz", arrays)
    return env.build()


@case("tiny.npz", "pickled")
def build_motion_with_pickled_objects(env):
    arrays = _motion_arrays(env)
    arrays["person_ids"] = np.array([{"id": 1}, None], dtype=object)
    np.savez(env.sources / "tiny.npz", **arrays)
    return env.build()


@case("avatar.mp4", "frames")
def build_avatar_video_shorter_than_its_source(env):
    frames = read_video(env.sources / "tiny.mp4")
    write_video(env.sources / "avatar.mp4", frames[:-5], fps=24)
    _edit_manifest(env, lambda m: m["sources"][0].update(avatar_video="avatar.mp4"))
    return env.build()


@case("avatar.mp4")
def build_avatar_video_cut_after_its_header(env):
    """The header (written first, faststart) still promises every frame; the stream ends early."""
    import av

    frames = read_video(env.sources / "tiny.mp4")
    with av.open(str(env.sources / "avatar.mp4"), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    data = (env.sources / "avatar.mp4").read_bytes()
    (env.sources / "avatar.mp4").write_bytes(data[: int(len(data) * 0.7)])
    _edit_manifest(env, lambda m: m["sources"][0].update(avatar_video="avatar.mp4"))
    return env.build()


@case("avatar.mp4", "280x376", "288x384")
def build_avatar_video_of_another_size(env):
    frames = read_video(env.sources / "tiny.mp4")
    write_video(env.sources / "avatar.mp4", frames[:, :-8, :-8], fps=24)
    _edit_manifest(env, lambda m: m["sources"][0].update(avatar_video="avatar.mp4"))
    return env.build()


@case("tiny.json", "captions")
def build_captions_not_json(env):
    (env.sources / "tiny.json").write_text("{not json")
    return env.build()


@case("--resolution", "100000")
def build_resolution_too_large(env):
    return [*env.build()[:-4], "--resolution", "100000", "--train-size", "4"]


@case("--resolution", "0")
def build_resolution_zero(env):
    return [*env.build()[:-4], "--resolution", "0", "--train-size", "4"]


@case("--train-size", "-3", code=2)
def build_train_size_negative(env):
    return [*env.build()[:-2], "--train-size", "-3"]


@case("--test-size", "0", code=2)
def build_test_size_zero(env):
    return env.build("--test-size", "0")


@case("--test-size", "500")
def build_test_size_too_large(env):
    return env.build("--test-size", "500")


@case("--shard", "3/2")
def build_shard_out_of_range(env):
    return env.build("--shard", "3/2")


@case("--shard", "abc")
def build_shard_not_a_fraction(env):
    return env.build("--shard", "abc")


@case("already exists", "--overwrite", out_may_exist=True)
def build_into_an_existing_folder(env):
    env.out.mkdir()
    (env.out / "keep.txt").write_text("mine")
    return env.build()


@case("--body-model", "missing.pkl", "does not exist")
def build_missing_body_model(env):
    return env.build("--body-model", env.tmp / "missing.pkl")


@case("body.npz", "plain arrays")
def build_body_model_npz_with_objects(env):
    path = env.tmp / "body.npz"
    np.savez(path, v_template=np.zeros((10, 3)), f=np.array([{"run": "code"}], dtype=object))
    return env.build("--body-model", path)


@case("body.npz", "SMPL")
def build_body_model_that_is_not_one(env):
    path = env.tmp / "body.npz"
    np.savez(path, weights=np.zeros((4, 4)))
    return env.build("--body-model", path)


@case("--license-link", "other")
def build_licence_link_without_other(env):
    return env.build("--license", "mit", "--license-link", "https://example.com")


@case("is being written by pid 4242")
def build_while_another_build_holds_the_folder(env):
    _hold_lock(env.out.parent / f".{env.out.name}.build" / ".amg_bench.lock")
    return env.build()


def _hold_lock(lock: Path) -> None:
    """Hold the output lock file ``lock`` from a child process for the rest of the test."""
    import subprocess
    import sys

    code = (
        "import fcntl, pathlib, sys, time\n"
        f"lock = pathlib.Path({str(lock)!r}); lock.parent.mkdir(parents=True, exist_ok=True)\n"
        "handle = open(lock, 'a+')\n"
        "fcntl.flock(handle.fileno(), fcntl.LOCK_EX)\n"
        "handle.write('pid 4242 (amg-bench)'); handle.flush()\n"
        "print('locked', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    _HOLDERS.append(holder)


_HOLDERS: list = []


@pytest.fixture(autouse=True)
def _release_locks():
    yield
    while _HOLDERS:
        _HOLDERS.pop().kill()


# ---- merge-shards ---------------------------------------------------------------------------


@case("dataset is not a part of a sharded build")
def merge_a_folder_that_is_no_part(env):
    return ["merge-shards", env.out, env.dataset]


@case("missing", "does not exist")
def merge_a_missing_part(env):
    return ["merge-shards", env.out, env.tmp / "missing"]


# ---- info -----------------------------------------------------------------------------------


@case("nowhere", "does not exist")
def info_missing_local_folder(env):
    return ["info", env.tmp / "nowhere"]


@case("README.md")
def info_folder_without_card(env):
    (env.dataset / "README.md").unlink()
    return ["info", env.dataset]


@case("amg_bench_build.json")
def info_corrupt_build_info(env):
    (env.dataset / "amg_bench_build.json").write_text("{truncated")
    return ["info", env.dataset]


@case("README.md", "YAML")
def info_malformed_card_yaml(env):
    _edit_card(env, lambda text: text.replace("configs:", "configs: [unclosed\n  - : :", 1))
    return ["info", env.dataset]


@case("parquet")
def info_zero_byte_shard(env):
    env.shard().write_bytes(b"")
    return ["info", env.dataset]


@case("parquet")
def info_garbage_shard(env):
    env.shard().write_bytes(b"PAR1" + b"\x07" * 500)
    return ["info", env.dataset]


@case("parquet")
def info_truncated_shard(env):
    shard = env.shard()
    shard.write_bytes(shard.read_bytes()[:-200])
    return ["info", env.dataset]


@case("test-00009-of-00010.parquet", "is not one of the shards")
def info_extra_shard_of_another_schema(env):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2]}), env.dataset / "data" / "test-00009-of-00010.parquet")
    return ["info", env.dataset]


@case("a/b/c")
def info_not_a_repo_id(env):
    return ["info", "a/b/c"]


# ---- evaluate: the dataset ------------------------------------------------------------------


@case("nowhere", "does not exist")
def evaluate_missing_dataset_folder(env):
    return env.evaluate(dataset=env.tmp / "nowhere")


@case("split", "validation", "test")
def evaluate_unknown_split(env):
    return env.evaluate("--split", "validation")


@case("parquet")
def evaluate_garbage_shard(env):
    env.shard().write_bytes(b"garbage")
    return env.evaluate()


@case("sha256")
def evaluate_tampered_shard(env):
    shard = env.shard()
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    return env.evaluate()


@case("README.md", "YAML")
def evaluate_malformed_card(env):
    _edit_card(env, lambda text: text.replace("configs:", "configs: {{{", 1))
    return env.evaluate()


@case("test-00000-of-00001.parquet holds no rows")
def evaluate_an_empty_split(env):
    _edit_rows(env, lambda t: t.slice(0, 0))
    return env.evaluate()


@case("fps", "0")
def evaluate_row_with_zero_fps(env):
    _edit_rows(env, lambda t: _set_column(t, "fps", [0.0] * t.num_rows))
    return env.evaluate()


@case("clip_id", "at most 200 characters")
def evaluate_clip_id_of_300_characters(env):
    _edit_rows(env, lambda t: _set_column(t, "clip_id", ["x" * 300 + str(i) for i in range(t.num_rows)]))
    return env.evaluate()


@case("clip_id", "\\x00")
def evaluate_clip_id_with_a_nul_byte(env):
    _edit_rows(env, lambda t: _set_column(t, "clip_id", [f"a\x00{i}" for i in range(t.num_rows)]))
    return env.evaluate()


@case("clip_id", "../")
def evaluate_clip_id_that_climbs_out(env):
    _edit_rows(env, lambda t: _set_column(t, "clip_id", [f"../../escape{i}" for i in range(t.num_rows)]))
    return env.evaluate()


@case("duplicate clip_id", "same")
def evaluate_duplicate_clip_ids(env):
    _edit_rows(env, lambda t: _set_column(t, "clip_id", ["same"] * t.num_rows))
    return env.evaluate()


@case("avatar_video")
def evaluate_column_dropped_from_the_data(env):
    _edit_rows(env, lambda t: t.drop_columns(["avatar_video"]))
    return env.evaluate(method="avatar")


# ---- evaluate: the method -------------------------------------------------------------------


@case("ground-trth", "ground-truth")
def evaluate_misspelt_method(env):
    return env.evaluate(method="ground-trth")


@case("num_inference_steps", "int", "many")
def evaluate_method_arg_of_the_wrong_type(env):
    return env.evaluate("--method-arg", "num_inference_steps=many", method="amg")


@case("no option 'colour'", "its options")
def evaluate_unknown_method_arg(env):
    return env.evaluate("--method-arg", "colour=red", method="amg")


@case("--method-arg", "key=value", code=2)
def evaluate_method_arg_without_equals(env):
    return env.evaluate("--method-arg", "steps", method="amg")


@case("device", "toaster")
def evaluate_bad_device(env):
    return env.evaluate("--device", "toaster", method="amg")


@case("weights", "amg")
def evaluate_missing_amg_weights(env):
    return env.evaluate("--method-arg", f"model={env.tmp / 'weights' / 'amg'}", method="amg")


@case("cannot import module", "boom at import")
def evaluate_plugin_raising_at_import(env):
    return env.evaluate(method=_plugin(env, "raise RuntimeError('boom at import')\n"))


@case("syntax error", "line 1")
def evaluate_plugin_with_a_syntax_error(env):
    return env.evaluate(method=_plugin(env, "def broken(:\n"))


@case(":Broken' could not be built", "boom in __init__")
def evaluate_plugin_whose_constructor_raises(env):
    source = (
        "from amg_bench.methods.base import Method\n"
        "class Broken(Method):\n"
        "    name = 'broken'\n"
        "    requires = frozenset({'video'})\n"
        "    def __init__(self, **options):\n"
        "        raise RuntimeError('boom in __init__')\n"
        "    def generate(self, request):\n"
        "        return request.video\n"
    )
    return env.evaluate(method=_plugin(env, source))


@case("no_such_module")
def evaluate_plugin_module_missing(env):
    return env.evaluate(method="no_such_module:Thing")


@case(":Broken", "Method")
def evaluate_plugin_that_is_not_a_method(env):
    return env.evaluate(method=_plugin(env, "class Broken:\n    pass\n"))


@case("folder:", "nothing", "is not a folder")
def evaluate_missing_folder_method(env):
    return env.evaluate(method=f"folder:{env.tmp / 'nothing'}")


@case("2 of 2 videos have another frame rate", "runs at 24 fps (clip: 8)")
def evaluate_folder_of_videos_at_another_fps(env):
    videos = env.tmp / "videos"
    videos.mkdir()
    for clip in (env.run / "videos").glob("*.mp4"):
        write_video(videos / clip.name, read_video(clip), fps=24)
    return env.evaluate("--limit", "2", method=f"folder:{videos}")


@case("config.yaml", "line")
def evaluate_malformed_config_yaml(env):
    (env.tmp / "config.yaml").write_text("num_inference_steps: [1,\n  guidance: : :\n")
    return env.evaluate("--config", env.tmp / "config.yaml", method="amg")


# ---- evaluate: scoring options and the run folder -------------------------------------------


@case("--eval-size", "100000x100000", code=2)
def evaluate_eval_size_too_large(env):
    return env.evaluate("--eval-size", "100000x100000")


@case("--eval-size", "big", code=2)
def evaluate_eval_size_not_a_size(env):
    return env.evaluate("--eval-size", "big")


@case("--metrics", "colour", code=2)
def evaluate_unknown_metric_group(env):
    return env.evaluate("--metrics", "clip,colour")


@case("CLIP", "missing", "does not exist")
def evaluate_missing_clip_model(env):
    return [*env.evaluate()[:-1], "--clip-model", f"local-dir:{env.tmp / 'missing'}", "--no-progress"]


@case("run.json is unreadable", "cannot be resumed", out_may_exist=True)
def evaluate_into_a_folder_with_a_corrupt_run_file(env):
    env.out.mkdir()
    (env.out / "run.json").write_text("{cut off")
    return env.evaluate()


@case("other settings", "grid_size", out_may_exist=True)
def evaluate_resumes_with_other_settings(env):
    shutil.copytree(env.run, env.out)
    args = env.evaluate(dataset=env.material["dataset"])
    return [*args[:-1], "--grid-size", "7", "--limit", "2", "--no-progress"]


@case("is being written by pid 4242", out_may_exist=True)
def evaluate_while_another_run_holds_the_folder(env):
    _hold_lock(env.out / ".amg_bench.lock")
    return env.evaluate()


@case("has no clip", "nope")
def evaluate_unknown_clip_selection(env):
    return env.evaluate("--clips", "nope")


@case("CoTracker", "klt")
def evaluate_cotracker_never_runs_a_local_hubconf(env):
    trap = env.tmp / "co-tracker"
    trap.mkdir()
    (trap / "hubconf.py").write_text(f"open({str(env.tmp / 'ran')!r}, 'w').write('code ran')\n")
    return [*env.evaluate()[:-1], "--metrics", "motion", "--tracker", "cotracker", "--no-progress"]


def test_the_cotracker_trap_never_ran(material, tmp_path, monkeypatch):
    """The case above must fail without importing ``./co-tracker/hubconf.py``."""
    (cotracker,) = [c for c in CASES if c.name == "evaluate_cotracker_never_runs_a_local_hubconf"]
    monkeypatch.chdir(tmp_path)
    env = Env(tmp_path, material)
    CliRunner().invoke(main, [str(a) for a in cotracker.make(env)])
    assert not (tmp_path / "ran").exists()


# ---- leaderboard ----------------------------------------------------------------------------


@case("missing", "does not exist", code=2)
def leaderboard_missing_results(env):
    return ["leaderboard", env.tmp / "missing", "--out", env.out]


@case("results.json", "not valid JSON")
def leaderboard_corrupt_results(env):
    (env.run / "results.json").write_text("{oops")
    return ["leaderboard", env.run, "--out", env.out]


@case("results.json", "schema_version")
def leaderboard_results_of_another_schema(env):
    results = json.loads((env.run / "results.json").read_text())
    results["schema_version"] = 99
    (env.run / "results.json").write_text(json.dumps(results))
    return ["leaderboard", env.run, "--out", env.out]


@case("videos_dir", "inside")
def leaderboard_results_pointing_outside(env):
    results = json.loads((env.run / "results.json").read_text())
    results["videos_dir"] = "/etc"
    (env.run / "results.json").write_text(json.dumps(results))
    return ["leaderboard", env.run, "--out", env.out]


@case("reported.json", "citation", "url")
def leaderboard_reported_with_a_javascript_link(env):
    from amg_bench.leaderboard import DEFAULT_REPORTED

    reported = json.loads(Path(DEFAULT_REPORTED).read_text())
    reported["citation"]["url"] = "javascript:alert(1)"
    (env.tmp / "reported.json").write_text(json.dumps(reported))
    return ["leaderboard", env.run, "--out", env.out, "--reported", env.tmp / "reported.json"]


@case("--rank-by", "speed", code=2)
def leaderboard_unknown_rank_metric(env):
    return ["leaderboard", env.run, "--out", env.out, "--rank-by", "speed"]


@case("--reported", "--no-reported", code=2)
def leaderboard_reported_and_no_reported(env):
    from amg_bench.leaderboard import DEFAULT_REPORTED

    return ["leaderboard", env.run, "--out", env.out, "--reported", DEFAULT_REPORTED, "--no-reported"]


@case("parquet")
def leaderboard_gallery_from_a_corrupt_dataset(env):
    env.shard().write_bytes(b"")
    return ["leaderboard", env.run, "--out", env.out, "--dataset", env.dataset]


@case("README.md", "YAML")
def leaderboard_gallery_from_a_dataset_with_a_malformed_card(env):
    _edit_card(env, lambda text: text.replace("configs:", "configs: [oops", 1))
    return ["leaderboard", env.run, "--out", env.out, "--dataset", env.dataset]


# ---- score ----------------------------------------------------------------------------------


@case("ref.mp4", "does not exist")
def score_missing_reference(env):
    return ["score", "--reference", env.tmp / "ref.mp4", "--generated", env.tmp / "ref.mp4", "--metrics", "motion"]


@case("gen.mp4")
def score_garbage_generated_video(env):
    (env.tmp / "gen.mp4").write_bytes(b"\x00" * 300)
    real = next((env.run / "videos").glob("*.mp4"))
    return ["score", "--reference", real, "--generated", env.tmp / "gen.mp4", "--metrics", "motion"]


@case("frames")
def score_videos_of_different_lengths(env):
    real = next((env.run / "videos").glob("*.mp4"))
    write_video(env.tmp / "gen.mp4", read_video(real)[:-4], fps=8)
    return ["score", "--reference", real, "--generated", env.tmp / "gen.mp4", "--metrics", "motion", "--tracker",
            "klt"]  # fmt: skip


@case("--prompt")
def score_clip_without_a_prompt(env):
    real = next((env.run / "videos").glob("*.mp4"))
    return [
        "score",
        "--reference",
        real,
        "--generated",
        real,
        "--metrics",
        "clip",
        "--clip-model",
        env.material["clip"],
    ]


# ---- publish --------------------------------------------------------------------------------


@case("amg_bench_build.json")
def publish_corrupt_build_info(env):
    (env.dataset / "amg_bench_build.json").write_text("[1, 2")
    return ["publish", env.dataset, "--repo-id", "someone/avatar-motion", "--dry-run"]


@case("sha256")
def publish_tampered_shard(env):
    shard = env.shard()
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    return ["publish", env.dataset, "--repo-id", "someone/avatar-motion", "--dry-run"]


@case("offline")
def publish_while_offline(env):
    return ["publish", env.dataset, "--repo-id", "someone/avatar-motion"]


@case("USER/NAME", "avatar motion")
def publish_bad_repo_id(env):
    return ["publish", env.dataset, "--repo-id", "avatar motion", "--dry-run"]


# ---- import-trace, demo, convert, train, caption --------------------------------------------


@case("already exists", "--overwrite", out_may_exist=True)
def import_trace_over_an_existing_motion(env):
    from trace_for_tests import save_trace

    trace = env.tmp / "trace.npz"
    save_trace(trace, {}, num_frames=58)
    env.out.write_bytes(b"keep me")
    return ["import-trace", trace, "--video", env.sources / "tiny.mp4", "--out", env.out]


@case("trace.npz", "not an npz")
def import_trace_of_a_text_file(env):
    (env.tmp / "trace.npz").write_text("hello")
    return ["import-trace", env.tmp / "trace.npz", "--video", env.sources / "tiny.mp4", "--out", env.out]


@case("trace.npz", "outputs")
def import_trace_missing_keys(env):
    np.savez(env.tmp / "trace.npz", unrelated=np.zeros(3))
    return ["import-trace", env.tmp / "trace.npz", "--video", env.sources / "tiny.mp4", "--out", env.out]


@case("parquet")
def demo_over_a_corrupt_dataset(env):
    env.shard().write_bytes(b"\x00" * 64)
    return ["demo", "--dataset", env.dataset, "--runs", env.tmp / "runs", "--out", env.out]


@case("README.md", "YAML")
def demo_over_a_dataset_with_a_malformed_card(env):
    _edit_card(env, lambda text: text.replace("configs:", "configs: {", 1))
    return ["demo", "--dataset", env.dataset, "--runs", env.tmp / "runs", "--out", env.out]


@case("release.pth", "does not exist")
def convert_amg_missing_checkpoint(env):
    return ["convert", "amg", env.tmp / "release.pth", "--out", env.out]


@case("release.pth", "weights only")
def convert_amg_checkpoint_that_is_not_one(env):
    (env.tmp / "release.pth").write_text("not a checkpoint")
    return ["convert", "amg", env.tmp / "release.pth", "--base", env.tmp, "--out", env.out]


@case("nowhere", "does not exist")
def train_amg_missing_dataset(env):
    return ["train", "amg", "--dataset", env.tmp / "nowhere", "--out", env.out]


@case("manifest", "nope.yaml", "does not exist")
def caption_missing_manifest(env):
    return ["caption", env.tmp / "nope.yaml"]


@case("--size", "99999", code=2)
def render_size_too_large(env):
    return ["render", "--motion", env.sources / "tiny.npz", "--size", "99999", "--out", env.tmp / "cond.mp4"]


@case("--height", "100000", code=2)
def generate_height_too_large(env):
    return ["generate", "--method", "frozen", "--reference-frame", "ref.png", "--height", "100000", "--out",
            env.tmp / "v.mp4"]  # fmt: skip


@case("--method-arg", "key=value", code=2)
def generate_malformed_method_arg(env):
    return ["generate", "--method", "avatar", "--method-arg", "=x", "--out", env.tmp / "v.mp4"]
