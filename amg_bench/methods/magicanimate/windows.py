"""The release's sliding-window schedule over a long clip, and the padding it needs (pure).

MagicAnimate's motion UNet sees ``context_frames`` (16) frames at a time. The release
(``pipelines/context.py``, schedule ``"uniform"``, called at step 0 with stride 1 and
``closed_loop=True``) starts a window every ``context_frames - overlap`` frames, from frame 0
while the start is below the clip length, and wraps indices around the end, so the last window
continues with the first frames; a clip no longer than one window is a single window. The
predicted noise of a frame is the mean over the windows holding it. The release's noise is
one ``context_frames`` block tiled along time, so the clip is first padded (repeating its last
frame) to a multiple of ``context_frames`` and the output trimmed back.
"""

from __future__ import annotations

import numpy as np

from ...checks import positive_int
from ...errors import MethodError


def check_window(context_frames: int, overlap: int) -> None:
    """Raise :class:`MethodError` unless ``context_frames >= 1`` and ``0 <= overlap < context_frames``."""
    positive_int(context_frames, "context_frames", MethodError)
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 0 <= overlap < context_frames:
        raise MethodError(f"context_overlap must be an integer in [0, {context_frames}), got {overlap!r}")


def context_windows(num_frames: int, context_frames: int = 16, overlap: int = 4) -> list[list[int]]:
    """Frame indices of every window, in the release's order.

    >>> [w[0] for w in context_windows(32)], context_windows(32)[-1][-8:]
    ([0, 12, 24], [0, 1, 2, 3, 4, 5, 6, 7])
    """
    positive_int(num_frames, "num_frames", MethodError)
    check_window(context_frames, overlap)
    if num_frames <= context_frames:
        return [list(range(num_frames))]
    step = context_frames - overlap
    return [[i % num_frames for i in range(start, start + context_frames)] for start in range(0, num_frames, step)]


def window_counts(windows: list[list[int]], num_frames: int) -> np.ndarray:
    """(num_frames,) how many windows hold each frame (the divisor of the average)."""
    return np.bincount(np.concatenate([np.asarray(w, dtype=np.int64) for w in windows]), minlength=num_frames)


def padded_length(num_frames: int, multiple: int) -> int:
    """``num_frames`` rounded up to a multiple of ``multiple``."""
    return -(-num_frames // multiple) * multiple


def pad_frames(frames: np.ndarray, multiple: int) -> np.ndarray:
    """Repeat the last frame until the frame count is a multiple of ``multiple`` (``np.pad`` mode ``edge``)."""
    extra = padded_length(len(frames), multiple) - len(frames)
    if not extra:
        return frames
    return np.pad(frames, ((0, extra),) + ((0, 0),) * (frames.ndim - 1), mode="edge")
