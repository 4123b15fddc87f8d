"""Builds at scale: worker processes, a killed build resumed, --shard parts merged; all equal to one build.

Two small sources named ``film_2`` and ``film_10`` (13 windows each; natural order puts film_2
first), cut into units of at most 7 windows: 4 units, so two processes, a kill between units
and three shard groups all have something to split.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from datasets_for_tests import cell_frames as to_frames
from scenes_for_tests import short_scene

import amg_bench.data.builder as builder
from amg_bench.cli import main
from amg_bench.data.builder import BuildConfig, build_dataset, merge_shards
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.hub import upload_plan
from amg_bench.data.writer import BUILD_INFO
from amg_bench.errors import BuildError

CONFIG = dict(train_size=16, resolution=16, chunk_windows=7)
CLI_OPTIONS = ["--train-size", "16", "--resolution", "16", "--chunk-windows", "7"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("films")
    return write_demo_sources(folder, seed=5, scenes=[short_scene("film_10"), short_scene("film_2")])


@pytest.fixture(scope="module")
def reference(manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "ds"
    return out, build_dataset(manifest, out, BuildConfig(**CONFIG), progress=False)


def rows(folder):
    """Every row per split, videos decoded, in dataset order (shards read directly: datasets' cache of a
    local folder is keyed by its card, so a folder with the same card could be served from an older copy)."""
    import pyarrow.parquet as pq

    out = {}
    for shard in sorted((folder / "data").iterdir()):
        split = shard.name.split("-")[0]
        for row in pq.read_table(shard).to_pylist():
            out.setdefault(split, []).append({k: to_frames(v) if k.endswith("video") else v for k, v in row.items()})
    return out


def assert_same_rows(a, b):
    first, second = rows(a), rows(b)
    assert first.keys() == second.keys()
    for split in first:
        assert [r["clip_id"] for r in first[split]] == [r["clip_id"] for r in second[split]], split
        for x, y in zip(first[split], second[split]):
            assert x.keys() == y.keys()
            for key in x:
                if isinstance(x[key], np.ndarray):
                    np.testing.assert_array_equal(x[key], y[key], err_msg=f"{x['clip_id']} {key}")
                else:
                    assert x[key] == y[key], (x["clip_id"], key)


def shard_names(folder):
    return sorted(p.name for p in (folder / "data").iterdir())


def no_hidden(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_sources_in_natural_order_and_units_in_shards(reference):
    out, report = reference
    assert report.splits == {"train": 16, "test": 10} and report.units_built == 4
    train = [row["clip_id"] for row in rows(out)["train"]]
    assert train[:13] == [f"film_2_{s:06d}" for s in range(13)]  # film_2 before film_10
    assert train[13:] == ["film_10_000000", "film_10_000001", "film_10_000002"]
    card = (out / "README.md").read_text()
    assert card.index("`film_2` (58 frames") < card.index("`film_10` (58 frames")  # the manifest lists film_10 first
    # one shard per unit and split: film_2 (2 units) and film_10's first unit hold train rows
    assert shard_names(out) == [
        "test-00000-of-00002.parquet",
        "test-00001-of-00002.parquet",
        "train-00000-of-00003.parquet",
        "train-00001-of-00003.parquet",
        "train-00002-of-00003.parquet",
    ]
    assert not no_hidden(out.parent)  # the work folder is gone once the dataset is complete


def test_two_processes_give_the_one_process_dataset(manifest, reference, tmp_path):
    out, report = reference
    parallel = build_dataset(manifest, tmp_path / "ds", BuildConfig(**CONFIG), progress=False, num_proc=2)
    assert parallel.fingerprint == report.fingerprint and parallel.splits == report.splits
    assert shard_names(tmp_path / "ds") == shard_names(out)
    assert_same_rows(out, tmp_path / "ds")


def test_a_killed_build_resumes_with_the_same_command(manifest, reference, tmp_path):
    out = tmp_path / "ds"
    args = ["build-dataset", "--manifest", str(manifest), "--out", str(out), *CLI_OPTIONS]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from amg_bench.cli import main; sys.exit(main())", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    units = tmp_path / ".ds.build" / "units"
    deadline = time.monotonic() + 120
    while not list(units.glob("*/unit.json")):
        assert child.poll() is None, "the build ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    finished = sorted(p.parent.name for p in units.glob("*/unit.json"))
    assert 1 <= len(finished) < 4 and not out.exists()
    (tmp_path / ".ds.x1y2z3.partial").mkdir()  # what an interrupted final rename leaves
    (units / ".film_10.0000006-0000012.abc.tmp").mkdir(exist_ok=True)  # a unit killed half-way

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"{len(finished)} finished unit(s) kept from a previous run" in result.output
    assert f"fingerprint {reference[1].fingerprint}" in result.output
    assert json.loads((out / BUILD_INFO).read_text())["fingerprint"] == reference[1].fingerprint
    assert not no_hidden(tmp_path)  # work folder, .partial and .tmp leftovers are all gone


def test_overwrite_starts_over(manifest, tmp_path, monkeypatch):
    built, asked = [], []
    real = builder.build_unit

    def crash_after_first(task, on_row=None):
        if built:
            raise KeyboardInterrupt  # as a Ctrl-C between units
        built.append(task.unit.id)
        return real(task, on_row)

    def record_and_stop(task, on_row=None):
        asked.append(task.unit.id)
        raise KeyboardInterrupt

    monkeypatch.setattr(builder, "build_unit", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(manifest, tmp_path / "ds", BuildConfig(**CONFIG), progress=False)
    units = tmp_path / ".ds.build" / "units"
    assert (units / built[0] / "unit.json").is_file()
    monkeypatch.setattr(builder, "build_unit", record_and_stop)
    with pytest.raises(KeyboardInterrupt):  # the same command would go on with the second unit...
        build_dataset(manifest, tmp_path / "ds", BuildConfig(**CONFIG), progress=False)
    assert asked == ["film_2.0000006-0000012"] and (units / built[0]).is_dir()
    with pytest.raises(KeyboardInterrupt):  # ...--overwrite drops the finished one and starts at the first
        build_dataset(manifest, tmp_path / "ds", BuildConfig(**CONFIG), progress=False, overwrite=True)
    assert asked[1:] == [built[0]] == ["film_2.0000000-0000005"] and not no_hidden(tmp_path)


def test_a_changed_source_redoes_only_its_units(manifest, tmp_path, monkeypatch):
    sources = tmp_path / "films"
    shutil.copytree(manifest.parent, sources)
    real = builder.build_unit
    monkeypatch.setattr(builder, "build_unit", lambda task, on_row=None: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        build_dataset(sources / "manifest.yaml", tmp_path / "ds", BuildConfig(**CONFIG), progress=False)
    monkeypatch.setattr(builder, "build_unit", real)
    assert not no_hidden(tmp_path)  # nothing finished: no work folder left behind
    # finish three units (film_2's two, film_10's first), then change film_2's captions: film_2's
    # units are redone, film_10's finished one is kept
    calls = []

    def counted(task, on_row=None):
        calls.append(task.unit.id)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real(task, on_row)

    monkeypatch.setattr(builder, "build_unit", counted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(sources / "manifest.yaml", tmp_path / "ds", BuildConfig(**CONFIG), progress=False)
    monkeypatch.setattr(builder, "build_unit", real)
    assert [c.split(".")[0] for c in calls] == ["film_2", "film_2", "film_10", "film_10"]
    captions = json.loads((sources / "film_2.json").read_text())
    captions["appearance"]["person0"] += " (edited)"
    (sources / "film_2.json").write_text(json.dumps(captions))
    report = build_dataset(sources / "manifest.yaml", tmp_path / "ds", BuildConfig(**CONFIG), progress=False)
    assert (report.units_built, report.units_reused) == (3, 1)
    built = rows(tmp_path / "ds")
    assert all(row["appearance_captions"][0].endswith("(edited)") for row in built["train"][:13])
    assert not any(row["appearance_captions"][0].endswith("(edited)") for row in built["test"])


def test_shards_merge_into_the_single_build(manifest, reference, tmp_path):
    out, report = reference
    parts = []
    for index in range(3):
        code = CliRunner().invoke(
            main,
            ["build-dataset", "--manifest", str(manifest), "--out", str(tmp_path / f"part{index}"), *CLI_OPTIONS]
            + ["--shard", f"{index}/3"],
        )
        assert code.exit_code == 0, code.output
        assert f"built part {index}/3" in code.output
        parts.append(tmp_path / f"part{index}")
    infos = [json.loads((p / BUILD_INFO).read_text())["part"] for p in parts]
    assert [info["group"] for info in infos] == [["film_2"], [], ["film_10"]]
    with pytest.raises(BuildError, match=r"--shard 3/3: I must be in 0..N-1"):
        build_dataset(manifest, tmp_path / "bad", BuildConfig(**CONFIG), shard=(3, 3))
    with pytest.raises(BuildError, match="one part of a sharded build"):
        upload_plan(parts[0], "me/ds")
    with pytest.raises(BuildError, match=r"parts 0..2 of 3 exactly once: missing \[1\]"):
        merge_shards(tmp_path / "merged", [parts[0], parts[2]])
    with pytest.raises(BuildError, match=r"given twice \[0\]"):
        merge_shards(tmp_path / "merged", [parts[0], parts[0], parts[1], parts[2]])
    other = build_dataset(manifest, tmp_path / "other", BuildConfig(**{**CONFIG, "train_size": 17}), shard=(1, 3))
    with pytest.raises(BuildError, match="part of another build"):
        merge_shards(tmp_path / "merged", [parts[0], other.folder, parts[2]])

    result = CliRunner().invoke(main, ["merge-shards", str(tmp_path / "merged"), *map(str, reversed(parts))])
    assert result.exit_code == 0, result.output
    assert f"fingerprint {report.fingerprint}" in result.output
    merged = tmp_path / "merged"
    assert shard_names(merged) == shard_names(out)
    assert_same_rows(out, merged)
    assert (merged / "README.md").read_text().split("Content fingerprint")[0] == (out / "README.md").read_text().split(
        "Content fingerprint"
    )[0]
    upload_plan(merged, "me/ds")  # a merged dataset is publishable

    shard = next((parts[2] / "data").glob("test-*"))
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BuildError, match="missing or changed since the part was built"):
        merge_shards(tmp_path / "again", parts)
    assert not (tmp_path / "again").exists()
