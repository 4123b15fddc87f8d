"""Clip windows and train/test splits, as the paper and its released code define them.

Pure logic: validity masks and frame counts in, window start indices and splits out. No IO,
no torch, so every rule is checked directly by tests.

Rules (the paper and its released code):

* a source video runs at 24 fps; a clip is ``num_frames`` (16) frames taken every
  ``frame_step`` (3rd) source frame, i.e. 8 fps and 2 s, spanning 46 source frames;
* every source frame is a candidate start (stride-1 sliding windows, the paper's); ``stride`` K
  keeps every K-th start (0, K, 2K, ...) for corpora where stride 1 would store each frame 16 times;
* a window is valid only if all its *sampled* frames exist and every person tracked in the
  window has a pose in every sampled frame. A person is "tracked in the window" when they have
  a pose in at least one of its sampled frames: a subject who appears and is then lost (or is
  lost and re-appears) drops the window, while a person absent from all 16 frames is simply not
  part of that clip. A window with nobody in it is not a clip;
* the scene caption of a window is that of its middle frame, ``start + caption_offset`` (24);
* windows are sorted by (source, start), sources in natural order (``film_2`` before
  ``film_10``: digit runs compare as numbers); the first ``train_size`` (5,500) are ``train`` and the
  following ``test_size`` (default: all the rest; the paper has 288) are ``test``;
* adjacent windows share source frames, so the split boundary leaks. ``split_gap`` drops the
  test windows whose span overlaps a train window's span in the same source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import BuildError

PAPER_TRAIN_SIZE = 5500
PAPER_TEST_SIZE = 288


@dataclass(frozen=True)
class WindowSpec:
    """How a clip samples its source: ``num_frames`` frames every ``frame_step`` source frames."""

    num_frames: int = 16
    frame_step: int = 3
    caption_offset: int = 24
    source_fps: float = 24.0
    stride: int = 1

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_step < 1:
            raise ValueError(f"num_frames and frame_step must be >= 1, got {self.num_frames}, {self.frame_step}")
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise BuildError(f"window stride must be a positive integer, got {self.stride!r}")

    @property
    def span(self) -> int:
        """Source frames covered from the first to the last sampled frame, inclusive (46)."""
        return (self.num_frames - 1) * self.frame_step + 1

    @property
    def clip_fps(self) -> float:
        """Frame rate of a clip (8 fps for the defaults)."""
        return self.source_fps / self.frame_step

    def sampled_frames(self, start: int) -> np.ndarray:
        """Source frame indices a window starting at ``start`` takes."""
        return start + self.frame_step * np.arange(self.num_frames)

    def caption_frame(self, start: int) -> int:
        """Source frame whose scene caption the window uses."""
        return start + self.caption_offset


def natural_key(text: str) -> tuple:
    """Sort key that compares digit runs as numbers: ``film_2 < film_10 < film_10b``.

    ``re.split`` with a capturing group alternates text and digit runs (text first), so two keys
    compare text with text and numbers with numbers; the raw string breaks ties (``a2`` / ``a02``).

    >>> sorted(["film_10", "film_2", "film_1"], key=natural_key)
    ['film_1', 'film_2', 'film_10']
    """
    parts = re.split(r"(\d+)", text)
    return (tuple(int(part) if index % 2 else part for index, part in enumerate(parts)), text)


@dataclass(frozen=True, order=True)
class Window:
    """One clip: a source and the source frame it starts at.

    Sorts by (source in natural order, start): ``film_2`` windows come before ``film_10`` ones.
    """

    sort_key: tuple = field(init=False, repr=False, compare=True)
    source_id: str = field(compare=False)
    start: int = field(compare=False)

    def __init__(self, source_id: str, start: int) -> None:
        object.__setattr__(self, "source_id", source_id)
        object.__setattr__(self, "start", int(start))
        object.__setattr__(self, "sort_key", (natural_key(source_id), int(start)))

    @property
    def clip_id(self) -> str:
        return f"{self.source_id}_{self.start:06d}"


def valid_starts(has_pose: np.ndarray, num_video_frames: int, spec: WindowSpec = WindowSpec()) -> np.ndarray:
    """Start frames of the valid windows of one source.

    Args:
        has_pose: bool ``(P, F)``; ``has_pose[p, f]`` is true when person ``p`` has a usable pose
            at source frame ``f``. Frames at or beyond ``F`` count as having no pose.
        num_video_frames: frames the source video holds; every sampled frame must be below it.
        spec: the window geometry.

    Returns:
        int64 array of valid starts, ascending.
    """
    has_pose = np.asarray(has_pose, dtype=bool)
    if has_pose.ndim != 2:
        raise ValueError(f"has_pose must be (persons, frames), got shape {has_pose.shape}")
    num_starts = num_video_frames - spec.span + 1
    if num_starts <= 0 or has_pose.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    padded = np.zeros((has_pose.shape[0], num_video_frames), dtype=bool)
    usable = min(num_video_frames, has_pose.shape[1])
    padded[:, :usable] = has_pose[:, :usable]
    starts = np.arange(0, num_starts, spec.stride)
    sampled = padded[:, starts[:, None] + spec.frame_step * np.arange(spec.num_frames)]  # (P, S, T)
    seen_any = sampled.any(axis=2)
    seen_all = sampled.all(axis=2)
    lost = (seen_any & ~seen_all).any(axis=0)
    nobody = ~seen_any.any(axis=0)
    return starts[~lost & ~nobody].astype(np.int64)


def people_in_window(has_pose: np.ndarray, start: int, spec: WindowSpec = WindowSpec()) -> np.ndarray:
    """Indices of the persons present in every sampled frame of a (valid) window."""
    frames = spec.sampled_frames(start)
    has_pose = np.asarray(has_pose, dtype=bool)
    inside = frames < has_pose.shape[1]
    if not inside.all():
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(has_pose[:, frames].all(axis=1))


def assign_splits(
    windows: Iterable[Window],
    train_size: int = PAPER_TRAIN_SIZE,
    test_size: int | None = None,
    split_gap: bool = False,
    spec: WindowSpec = WindowSpec(),
) -> dict[str, list[Window]]:
    """Sort windows and cut them into ``train`` and ``test``.

    Raises:
        BuildError: no window at all, ``train_size`` leaves no test window, or fewer test
            windows than ``test_size`` remain.
    """
    ordered = sorted(windows)
    if not ordered:
        raise BuildError("no valid window: every candidate clip misses a frame or loses a subject")
    if train_size < 0 or (test_size is not None and test_size < 1):
        raise BuildError(f"train_size must be >= 0 and test_size >= 1, got {train_size}, {test_size}")
    if train_size >= len(ordered):
        raise BuildError(f"--train-size {train_size} leaves no test window: only {len(ordered)} valid windows")
    train, rest = ordered[:train_size], ordered[train_size:]
    if split_gap and train:
        last = train[-1]
        rest = [w for w in rest if w.source_id != last.source_id or w.start - last.start >= spec.span]
    if test_size is not None:
        if len(rest) < test_size:
            raise BuildError(f"--test-size {test_size} asks for more windows than remain after train: {len(rest)}")
        rest = rest[:test_size]
    if not rest:
        raise BuildError("no test window left after --split-gap; lower --train-size")
    return {"train": train, "test": rest}


def proportional_train_size(num_windows: int, train: int = PAPER_TRAIN_SIZE, test: int = PAPER_TEST_SIZE) -> int:
    """Train size that keeps the paper's train:test proportion for ``num_windows`` windows."""
    if num_windows < 2:
        raise BuildError(f"need at least 2 valid windows for two splits, got {num_windows}")
    size = round(num_windows * train / (train + test))
    return int(min(max(size, 1), num_windows - 1))


def needed_frames(starts: Sequence[int], spec: WindowSpec = WindowSpec()) -> np.ndarray:
    """Sorted unique source frames sampled by any of the windows (each is rendered once)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    frames = np.asarray(starts)[:, None] + spec.frame_step * np.arange(spec.num_frames)
    return np.unique(frames)
