"""Window validity, captions and split rules."""

import numpy as np
import pytest

from amg_bench.data.windows import (
    Window,
    WindowSpec,
    assign_splits,
    natural_key,
    needed_frames,
    people_in_window,
    proportional_train_size,
    valid_starts,
)
from amg_bench.errors import BuildError

SPEC = WindowSpec()


def test_geometry_matches_the_paper():
    assert SPEC.span == 46
    assert SPEC.clip_fps == 8
    assert SPEC.sampled_frames(10).tolist() == [10 + 3 * k for k in range(16)]
    assert SPEC.caption_frame(10) == 34
    assert Window("src", 7).clip_id == "src_000007"


def test_every_start_whose_frames_exist_is_valid():
    frames = 100
    starts = valid_starts(np.ones((1, frames), bool), frames)
    assert starts.tolist() == list(range(frames - 45))


def test_a_window_needs_every_sampled_frame_in_the_video():
    # 46 frames: exactly one window; 45 frames: none.
    assert valid_starts(np.ones((1, 46), bool), 46).tolist() == [0]
    assert valid_starts(np.ones((1, 45), bool), 45).tolist() == []
    # motion shorter than the video: frames without motion count as missing
    assert valid_starts(np.ones((1, 50), bool), 60).tolist() == [0, 1, 2, 3, 4]


def test_a_lost_frame_removes_exactly_the_windows_that_sample_it():
    frames, lost = 200, 100
    has_pose = np.ones((2, frames), bool)
    has_pose[1, lost] = False
    starts = set(valid_starts(has_pose, frames).tolist())
    sampling = {s for s in range(frames - 45) if lost in SPEC.sampled_frames(s)}
    # windows sample frame 100 when 100 - s is a multiple of 3 in [0, 45]
    assert sampling == {100 - 3 * k for k in range(16)}
    assert starts == set(range(frames - 45)) - sampling


def test_a_person_absent_from_a_whole_window_is_not_part_of_it():
    frames = 120
    has_pose = np.ones((2, frames), bool)
    has_pose[1, 60:] = False  # person 1 leaves at frame 60 and never returns
    starts = valid_starts(has_pose, frames)
    # windows entirely before 60: starts 0..14 (last frame s+45 <= 59); windows starting at or
    # after 60 contain only person 0; windows straddling 60 lose person 1.
    assert starts.tolist() == list(range(0, 15)) + list(range(60, 75))
    assert people_in_window(has_pose, 0).tolist() == [0, 1]
    assert people_in_window(has_pose, 60).tolist() == [0]


def test_a_window_with_nobody_is_not_a_clip():
    assert valid_starts(np.zeros((1, 80), bool), 80).tolist() == []


def test_frames_between_samples_do_not_matter():
    has_pose = np.ones((1, 46), bool)
    has_pose[0, 1] = False  # frame 1 is not sampled by the only window (0, 3, 6, ...)
    assert valid_starts(has_pose, 46).tolist() == [0]


def test_splits_are_sorted_and_cut_at_train_size():
    windows = [Window("b", 0), Window("a", 5), Window("a", 1), Window("b", 3)]
    splits = assign_splits(windows, train_size=2)
    assert splits["train"] == [Window("a", 1), Window("a", 5)]
    assert splits["test"] == [Window("b", 0), Window("b", 3)]
    splits = assign_splits(windows, train_size=1, test_size=2)
    assert splits["test"] == [Window("a", 5), Window("b", 0)]


def test_split_gap_drops_test_windows_overlapping_train():
    windows = [Window("a", s) for s in range(100)] + [Window("b", 0)]
    splits = assign_splits(windows, train_size=50, split_gap=True)
    assert len(splits["train"]) == 50
    # last train window starts at 49 and spans 49..94: test windows 50..94 overlap it
    assert [w.start for w in splits["test"] if w.source_id == "a"] == list(range(95, 100))
    assert splits["test"][-1] == Window("b", 0)
    no_gap = assign_splits(windows, train_size=50)
    assert len(no_gap["test"]) == 51


def test_split_errors_are_clear():
    with pytest.raises(BuildError, match="no valid window"):
        assign_splits([], train_size=1)
    with pytest.raises(BuildError, match="--train-size 5 leaves no test window: only 3"):
        assign_splits([Window("a", i) for i in range(3)], train_size=5)
    with pytest.raises(BuildError, match="--test-size 9"):
        assign_splits([Window("a", i) for i in range(3)], train_size=1, test_size=9)
    with pytest.raises(BuildError, match="split-gap"):
        assign_splits([Window("a", i) for i in range(3)], train_size=1, split_gap=True)


def test_proportional_train_size_keeps_the_paper_ratio():
    assert proportional_train_size(5788) == 5500
    assert proportional_train_size(300) == 285
    assert proportional_train_size(2) == 1


def test_needed_frames_are_unique_and_sorted():
    assert needed_frames([0, 1]).tolist() == sorted(set(range(0, 46, 3)) | set(range(1, 47, 3)))


def test_sources_sort_naturally():
    ids = ["film_10", "film_2", "film_1", "film_02", "b", "a10b", "a9z"]
    assert sorted(ids, key=natural_key) == ["a9z", "a10b", "b", "film_1", "film_02", "film_2", "film_10"]
    windows = [Window("film_10", 0), Window("film_2", 5), Window("film_2", 1)]
    assert sorted(windows) == [Window("film_2", 1), Window("film_2", 5), Window("film_10", 0)]
    # the split cut follows that order: film_2's windows are the first ones
    splits = assign_splits(windows, train_size=2)
    assert splits["train"] == [Window("film_2", 1), Window("film_2", 5)] and splits["test"] == [Window("film_10", 0)]


def test_window_stride_keeps_every_kth_candidate_start():
    has_pose = np.ones((1, 60), bool)
    has_pose[0, 30] = False  # drops starts 30 - 3k
    assert valid_starts(has_pose, 60, WindowSpec(stride=1)).tolist() == [1, 2, 4, 5, 7, 8, 10, 11, 13, 14]
    assert valid_starts(has_pose, 60, WindowSpec(stride=4)).tolist() == [4, 8]  # 0 and 12 sample frame 30
    with pytest.raises(BuildError, match="stride must be a positive integer, got 0"):
        WindowSpec(stride=0)
