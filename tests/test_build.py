"""End-to-end dataset builds from a small synthetic source, and every bad input of the CLI."""

import json
import shutil

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from datasets_for_tests import cell_frames as to_frames
from scenes_for_tests import two_people_scene

from amg_bench.cli import main
from amg_bench.data.builder import BuildConfig, build_dataset
from amg_bench.data.captions import load_captions
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.hub import load_benchmark, upload_plan
from amg_bench.data.motion import load_motion, save_motion
from amg_bench.data.windows import WindowSpec
from amg_bench.data.writer import BUILD_INFO
from amg_bench.errors import BuildError, OutputExistsError
from amg_bench.video import probe, read_video, write_video

SCENE = two_people_scene("tiny")
LOST_FRAME = 40  # person1 loses tracking here in the "lost" variant


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    return write_demo_sources(folder, seed=3, scenes=[SCENE])


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "ds"
    report = build_dataset(sources, out, BuildConfig(train_size=20, resolution=64, pose_video=True), progress=False)
    return out, report


def test_round_trip_through_load_dataset(built, sources):
    out, report = built
    ds = load_benchmark(out)
    assert {name: len(split) for name, split in ds.items()} == report.splits == {"train": 20, "test": 7}
    row = ds["test"][0]
    expected_columns = {
        "clip_id",
        "source_id",
        "start_frame",
        "fps",
        "num_frames",
        "video",
        "avatar_video",
        "pose_video",
        "scene_caption",
        "appearance_captions",
        "num_people",
        "person_ids",
        "body_model",
        "smpl",
        "camera",
        "appearance_colors",
    }
    assert set(ds["test"].column_names) == expected_columns
    for column in ("video", "avatar_video", "pose_video"):
        frames = to_frames(row[column])
        assert frames.shape == (16, 64, 64, 3), column
    assert row["clip_id"] == "tiny_000020" and row["start_frame"] == 20 and row["fps"] == 8
    captions = load_captions(sources.parent / "tiny.json")
    assert row["scene_caption"] == captions.scene_frames[20 + 24]
    assert row["person_ids"] == ["person0", "person1"] and row["num_people"] == 2
    assert row["appearance_captions"][1] == captions.appearance["person1"]
    person = row["smpl"][1]
    assert np.asarray(person["body_pose"]).shape == (16, 69)
    motion = load_motion(sources.parent / "tiny.npz")
    np.testing.assert_allclose(person["transl"], motion.transl[1, 20:66:3], rtol=1e-6)
    assert np.asarray(row["camera"]["extrinsics"]).shape == (16, 4, 4)
    # the avatar is drawn on black, the real clip is not
    avatar = to_frames(row["avatar_video"])
    assert (avatar.max(axis=-1) < 16).mean() > 0.5
    assert (to_frames(row["video"]).max(axis=-1) < 16).mean() < 0.05
    # the pose video is DensePose-coloured: mostly the viridis(0) background, the rest palette colours
    pose = to_frames(row["pose_video"]).astype(int)
    assert (np.abs(pose - [68, 1, 84]).max(axis=-1) < 12).mean() > 0.5


def test_card_matches_the_data(built):
    out, report = built
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    splits = {s["name"]: s["num_examples"] for s in front["dataset_info"]["splits"]}
    assert splits == report.splits
    assert front["configs"][0]["data_files"] == [
        {"split": "train", "path": "data/train-*"},
        {"split": "test", "path": "data/test-*"},
    ]
    for key in ("license", "task_categories", "size_categories", "tags", "pretty_name"):
        assert front[key], key
    # the Hub's card fields: a licence "other" names its terms; captions are English and machine-made
    assert front["license"] == "other"
    assert front["license_name"] == "source-video-terms" and front["license_link"] == "README.md"
    assert front["language"] == ["en"] and front["annotations_creators"] == ["machine-generated"]
    assert front["source_datasets"] == ["original"]
    assert "## Licence" in card and 'load_dataset("<user>/<repo>")' in card
    assert "pose_video" in card and "Boundary leakage" in card and "2409.01502" in card
    assert "DensePose fine segmentation" in card and "`mannequin` body model's dominant skinning joint" in card
    info = json.loads((out / BUILD_INFO).read_text())
    assert info["fingerprint"] == report.fingerprint and info["options"]["train_size"] == 20
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_each_needed_frame_is_rendered_once(built):
    _, report = built
    # 27 windows x 16 frames sample 72 - 45 + ... = every frame of 0..71 at least once
    assert report.needed_frames == 72
    assert report.renders == report.needed_frames


def _decoded(folder):
    ds = load_benchmark(folder, decode_videos=False)
    return {
        row["clip_id"]: [to_frames(row[c]) for c in ("video", "avatar_video", "pose_video")]
        for split in ds.values()
        for row in split
    }


def test_builds_are_reproducible(sources, built, tmp_path):
    # Renders are byte-identical; x264 itself may order its bitstream differently between runs,
    # so the fingerprint is computed from the frames before encoding and the comparison is on
    # decoded frames.
    out, report = built
    again = build_dataset(
        sources, tmp_path / "again", BuildConfig(train_size=20, resolution=64, pose_video=True), progress=False
    )
    assert again.splits == report.splits
    assert again.fingerprint == report.fingerprint
    assert json.loads((tmp_path / "again" / BUILD_INFO).read_text())["fingerprint"] == report.fingerprint
    first, second = _decoded(out), _decoded(tmp_path / "again")
    assert first.keys() == second.keys()
    for clip_id in first:
        for a, b in zip(first[clip_id], second[clip_id]):
            np.testing.assert_array_equal(a, b, err_msg=clip_id)


def test_video_cells_are_named_by_clip_and_stored_as_datasets_stores_media(built):
    import pyarrow.parquet as pq
    from datasets import Video, load_dataset

    out, _ = built
    test = load_dataset(str(out), split="test").cast_column("video", Video(decode=False))
    assert [cell["path"] for cell in test["video"][:2]] == ["tiny_000020.mp4", "tiny_000021.mp4"]
    shard = pq.ParquetFile(out / "data" / "test-00000-of-00001.parquet")
    assert b"content_defined_chunking" in shard.metadata.metadata
    group = shard.metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    for media in ("video.bytes", "avatar_video.bytes", "pose_video.bytes"):
        assert columns[media].compression == "UNCOMPRESSED", media
        assert "PLAIN" in columns[media].encodings and not columns[media].has_dictionary_page, media
    assert columns["scene_caption"].compression == "SNAPPY" and columns["scene_caption"].has_dictionary_page
    assert all(column.has_offset_index for column in columns.values())  # the page index


def test_parquet_options_are_datasets_own():
    from datasets.arrow_writer import get_parquet_column_options
    from datasets.config import DEFAULT_CDC_OPTIONS

    from amg_bench.data.writer import dataset_features, parquet_options

    features = dataset_features(with_pose_video=True)
    ours = parquet_options(features)
    theirs = get_parquet_column_options(features, features.arrow_schema)
    assert {k: ours[k] for k in theirs} == theirs
    assert ours["use_content_defined_chunking"] == DEFAULT_CDC_OPTIONS and ours["write_page_index"] is True


def test_window_stride_keeps_every_kth_start(sources, tmp_path):
    config = BuildConfig(train_size=4, resolution=16, windows=WindowSpec(stride=3))
    report = build_dataset(sources, tmp_path / "strided", config, progress=False)
    ds = load_benchmark(tmp_path / "strided", decode_videos=False)
    starts = sorted(s for split in ds.values() for s in split["start_frame"])
    assert starts == list(range(0, 27, 3)) and report.splits == {"train": 4, "test": 5}
    card = (tmp_path / "strided" / "README.md").read_text()
    assert "one candidate start every 3 source frames" in card


def test_motion_made_for_another_frame_rate_or_frame_count_is_refused(sources, tmp_path):
    from amg_bench.errors import MotionError

    folder = tmp_path / "src"
    shutil.copytree(sources.parent, folder)
    frames = read_video(folder / "tiny.mp4")
    # `ffmpeg -i in.mp4 -r 24` on a 23.976 fps film duplicates frames: 72 become 75
    write_video(folder / "tiny.mp4", np.concatenate([frames, frames[-3:]]), fps=24)
    with pytest.raises(MotionError, match=r"made for 72 frames at 24 fps, but video .* has 75 frames at 24 fps"):
        build_dataset(folder / "manifest.yaml", tmp_path / "ds", BuildConfig(train_size=5, resolution=16))
    write_video(folder / "tiny.mp4", frames, fps=24)
    motion = load_motion(folder / "tiny.npz")
    motion.fps = 24000 / 1001
    save_motion(folder / "tiny.npz", motion)
    with pytest.raises(MotionError, match=r"made for 72 frames at 23.976 fps.*ffmpeg -r 24 -i in.mp4"):
        build_dataset(folder / "manifest.yaml", tmp_path / "ds", BuildConfig(train_size=5, resolution=16))
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("how", ["invalid", "behind the camera", "1e20 m away", "beside the image"])
def test_a_lost_subject_drops_exactly_the_windows_sampling_that_frame(sources, tmp_path, how):
    """A frame TRACE lost, and a valid frame the camera cannot see, are the same to the windows."""
    lost = tmp_path / "lost"
    shutil.copytree(sources.parent, lost)
    motion = load_motion(lost / "tiny.npz")
    if how == "invalid":
        motion.valid[1, LOST_FRAME] = False
    elif how == "behind the camera":  # 3 m behind it: camera z = world z + extrinsics' z shift
        motion.transl[1, LOST_FRAME, 2] = -motion.extrinsics[LOST_FRAME, 2, 3] - 3.0
    elif how == "1e20 m away":
        motion.transl[1, LOST_FRAME] = [0.0, 0.0, 1e20]
    else:  # 40 m to the side at a few metres' depth: in front of the camera, outside the image
        motion.transl[1, LOST_FRAME, 0] += 40.0
    save_motion(lost / "tiny.npz", motion)
    result = build_dataset(
        lost / "manifest.yaml", tmp_path / "lost_ds", BuildConfig(train_size=5, resolution=32), progress=False
    )
    ds = load_benchmark(tmp_path / "lost_ds", decode_videos=False)
    starts = sorted(r for split in ds.values() for r in split["start_frame"])
    sampling = {LOST_FRAME - 3 * k for k in range(16)}
    assert starts == sorted(set(range(72 - 45)) - sampling)
    assert sum(result.splits.values()) == 27 - len(sampling & set(range(27)))


def test_train_size_zero_builds_a_test_only_dataset_that_loads(sources, tmp_path):
    report = build_dataset(sources, tmp_path / "ds", BuildConfig(train_size=0, resolution=16), progress=False)
    assert report.splits == {"test": 27}
    loaded = load_benchmark(tmp_path / "ds", decode_videos=False)
    assert list(loaded) == ["test"] and loaded["test"].num_rows == 27


def test_split_gap_that_empties_test_is_an_error(sources, tmp_path):
    # all 27 windows of the 72-frame source overlap each other, so the gap leaves no test window
    with pytest.raises(BuildError, match="no test window left after --split-gap"):
        build_dataset(
            sources, tmp_path / "gap", BuildConfig(train_size=2, resolution=32, split_gap=True), progress=False
        )
    assert not (tmp_path / "gap").exists()


def test_publish_plan_lists_the_folder(built):
    out, _ = built
    plan = upload_plan(out, "me/avatar-motion")
    names = [name for name, _ in plan.files]
    assert names == sorted(names) and "README.md" in names and BUILD_INFO in names
    assert "data/train-00000-of-00001.parquet" in names and plan.total_bytes > 0
    with pytest.raises(BuildError, match="USER/NAME"):
        upload_plan(out, "no-slash")


def test_existing_output_is_refused(sources, built):
    out, _ = built
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build_dataset(sources, out, BuildConfig(train_size=20, resolution=64), progress=False)


# --- bad input through the CLI: one readable line, exit code 1, nothing written -------------


def _copy_sources(sources, tmp_path):
    folder = tmp_path / "src"
    shutil.copytree(sources.parent, folder)
    return folder


def _run(args):
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output.strip()


def _bad(folder, tmp_path, *extra):
    out = tmp_path / "out"
    code, output = _run(
        ["build-dataset", "--manifest", str(folder / "manifest.yaml"), "--out", str(out), "--resolution", "32", *extra]
    )
    assert code == 1, output
    assert output.startswith("error: ") and len(output.splitlines()) == 1, output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    return output


def test_cli_missing_video(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    (folder / "tiny.mp4").unlink()
    message = _bad(folder, tmp_path, "--train-size", "5")
    assert "sources[0].video: file" in message and "tiny.mp4 does not exist" in message


def test_cli_corrupt_video(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    (folder / "tiny.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    assert "tiny.mp4" in _bad(folder, tmp_path, "--train-size", "5")


def test_cli_truncated_video(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    data = (folder / "tiny.mp4").read_bytes()
    (folder / "tiny.mp4").write_bytes(data[: len(data) // 2])
    assert "tiny.mp4" in _bad(folder, tmp_path, "--train-size", "5")


def test_cli_wrong_fps(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    frames = read_video(folder / "tiny.mp4")
    write_video(folder / "tiny.mp4", frames, fps=30)
    assert probe(folder / "tiny.mp4").fps == 30
    message = _bad(folder, tmp_path, "--train-size", "5")
    assert "runs at 30 fps; sources must be 24 fps" in message and "ffmpeg -r 24 -i in.mp4" in message


def test_cli_bad_motion_shape(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    with np.load(folder / "tiny.npz") as data:
        arrays = dict(data)
    arrays["body_pose"] = arrays["body_pose"][..., :60]
    np.savez(folder / "tiny.npz", **arrays)
    assert "'body_pose' must have shape (2, 72, 69)" in _bad(folder, tmp_path, "--train-size", "5")


def test_cli_unknown_manifest_key(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["sources"][0]["colour"] = "red"
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    assert "unknown keys ['colour']" in _bad(folder, tmp_path, "--train-size", "5")


def test_cli_no_valid_window(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    motion = load_motion(folder / "tiny.npz")
    motion.valid[:, :] = False
    save_motion(folder / "tiny.npz", motion)
    assert "no valid window" in _bad(folder, tmp_path, "--train-size", "5")


def test_cli_train_size_too_large(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    assert "--train-size 500 leaves no test window: only 27 valid windows" in _bad(
        folder, tmp_path, "--train-size", "500"
    )


def test_cli_missing_caption(sources, tmp_path):
    folder = _copy_sources(sources, tmp_path)
    captions = json.loads((folder / "tiny.json").read_text())
    del captions["scene_frames"]["30"]
    (folder / "tiny.json").write_text(json.dumps(captions))
    assert "lack scene captions for 1 window middle frame(s): 30" in _bad(folder, tmp_path, "--train-size", "5")


def test_cli_output_exists(sources, tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    code, output = _run(["build-dataset", "--manifest", str(sources), "--out", str(out)])
    assert code == 1 and output == f"error: output {out} already exists; pass --overwrite to replace it"


def test_cli_build_info_and_publish_dry_run(sources, tmp_path):
    out = tmp_path / "cli_ds"
    code, output = _run(
        ["build-dataset", "--manifest", str(sources), "--out", str(out), "--train-size", "20", "--resolution", "32"]
    )
    assert code == 0, output
    assert "train 20, test 7 clips" in output
    code, output = _run(["info", str(out)])
    assert code == 0 and "train: 20 clips" in output and "test: 7 clips" in output and "avatar_video" in output
    code, output = _run(["publish", str(out), "--repo-id", "me/demo", "--dry-run"])
    assert code == 0 and output.startswith("would upload") and "data/test-00000-of-00001.parquet" in output
