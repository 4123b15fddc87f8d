"""The one place that reads and writes video.

Everything else in the package passes uint8 arrays shaped ``(T, H, W, 3)`` (RGB). Decoding goes
through torchcodec (the decoder ``datasets.Video`` uses; it decodes the same frames as PyAV, and
faster), H.264 encoding through PyAV (FFmpeg's libx264, streamed frame by frame), resizing
through OpenCV. All three are imported inside the functions so importing this module (and
running ``amg-bench --help``) stays fast.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import VideoError
from .files import atomic_path


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts read from a container without decoding a frame."""

    fps: float
    num_frames: int
    height: int
    width: int


def _describe(source) -> str:
    return "<bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)


def _decoder(source: str | os.PathLike | bytes, exact: bool = True):
    """A torchcodec ``VideoDecoder`` (frames ``(H, W, 3)``); ``exact`` scans the file for the true frame count.

    Raises:
        VideoError: missing file, a folder, or bytes / a file FFmpeg cannot open as a video.
    """
    from torchcodec.decoders import VideoDecoder

    what = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        handle: Any = bytes(source)
        if not handle:
            raise VideoError("video <bytes> is empty")
    else:
        path = Path(source)
        if path.is_dir():
            raise VideoError(f"video {path} is a folder, not a video file")
        if not path.is_file():
            raise VideoError(f"video {path} does not exist")
        handle = str(path)
    try:
        return VideoDecoder(handle, seek_mode="exact" if exact else "approximate", dimension_order="NHWC")
    except (RuntimeError, ValueError, OSError) as exc:
        raise VideoError(f"cannot open video {what}: {str(exc).splitlines()[-1]}") from exc


def probe(source: str | os.PathLike | bytes) -> VideoInfo:
    """Return fps, frame count and size of a video file or mp4 byte string.

    The frame count is that of the frames the stream holds (its packets are scanned, nothing is
    decoded), not what the container header claims.

    Raises:
        VideoError: the file is missing, unreadable, has no video stream or no frame rate.
    """
    metadata = _decoder(source).metadata
    fps = metadata.average_fps
    if not fps or not np.isfinite(fps) or fps <= 0:
        raise VideoError(f"video {_describe(source)} does not declare a frame rate")
    return VideoInfo(float(fps), int(metadata.num_frames or 0), int(metadata.height), int(metadata.width))


def iter_frames(source: str | os.PathLike | bytes) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames ``(H, W, 3)`` one at a time (memory stays flat on long videos).

    Raises:
        VideoError: missing, unreadable or corrupt video (including a stream that breaks mid-way).
    """
    decoder = _decoder(source, exact=False)
    index = 0
    while True:
        try:
            frame = decoder[index]
        except IndexError:
            return
        except RuntimeError as exc:
            raise VideoError(
                f"corrupt video {_describe(source)} at frame {index}: {str(exc).splitlines()[-1]}"
            ) from exc
        yield frame.numpy()
        index += 1


def read_video(source: str | os.PathLike | bytes) -> np.ndarray:
    """Decode a whole video into a uint8 array ``(T, H, W, 3)``.

    Raises:
        VideoError: missing, unreadable, corrupt or empty video.
    """
    decoder = _decoder(source)
    count = int(decoder.metadata.num_frames or 0)
    if count == 0:
        raise VideoError(f"video {_describe(source)} has no decodable frame")
    try:
        frames = decoder.get_frames_in_range(0, count).data
    except RuntimeError as exc:
        raise VideoError(f"corrupt video {_describe(source)}: {str(exc).splitlines()[-1]}") from exc
    return np.ascontiguousarray(frames.numpy())


def read_frames(source: str | os.PathLike | bytes, indices) -> np.ndarray:
    """Decode only the frames at ``indices`` (any order, repeats allowed): uint8 ``(len(indices), H, W, 3)``.

    Raises:
        VideoError: missing, unreadable or corrupt video, or an index outside ``0 .. num_frames - 1``.
    """
    indices = [int(i) for i in indices]
    decoder = _decoder(source)
    count = int(decoder.metadata.num_frames or 0)
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise VideoError(f"video {_describe(source)} has {count} frames; frame {bad[0]} was asked for")
    if not indices:
        return np.zeros((0, int(decoder.metadata.height), int(decoder.metadata.width), 3), dtype=np.uint8)
    try:
        frames = decoder.get_frames_at(indices).data
    except RuntimeError as exc:
        raise VideoError(f"corrupt video {_describe(source)}: {str(exc).splitlines()[-1]}") from exc
    return np.ascontiguousarray(frames.numpy())


def check_frames(frames: Any, name: str = "frames") -> np.ndarray:
    """Validate a video array: uint8, shape ``(T, H, W, 3)`` with T, H, W > 0.

    Raises:
        VideoError: naming ``name`` and what was wrong.
    """
    if not isinstance(frames, np.ndarray):
        raise VideoError(f"{name} must be a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise VideoError(f"{name} must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise VideoError(f"{name} must be shaped (T, H, W, 3), got {tuple(frames.shape)}")
    return frames


class Mp4Encoder:
    """Stream frames into an H.264 (yuv420p) mp4 container, one frame at a time.

    Encoding runs single-threaded so the same frames always give the same bytes. ``target``
    is a path or a writable binary file object.
    """

    def __init__(self, target: Any, fps: float, height: int, width: int, crf: int = 18) -> None:
        import av

        if height % 2 or width % 2:
            raise VideoError(f"H.264 needs even frame sizes, got {height}x{width}")
        self._av = av
        self.size = (height, width)
        self.container = av.open(target, mode="w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.codec_context.thread_count = 1
        self.stream.options = {"crf": str(crf), "preset": "medium"}

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (*self.size, 3) or frame.dtype != np.uint8:
            raise VideoError(f"frame must be uint8 {(*self.size, 3)}, got {frame.dtype} {frame.shape}")
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> Mp4Encoder:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self.container.close()


def encode_mp4(frames: np.ndarray, fps: float, crf: int = 18) -> bytes:
    """Encode ``(T, H, W, 3)`` uint8 frames as H.264 (yuv420p) mp4 bytes; H and W must be even."""
    frames = check_frames(frames)
    buffer = io.BytesIO()
    with Mp4Encoder(buffer, fps, frames.shape[1], frames.shape[2], crf=crf) as encoder:
        for frame in frames:
            encoder.write(frame)
    return buffer.getvalue()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray] | np.ndarray, fps: float, crf: int = 18) -> None:
    """Atomically write frames (an array or any iterable of ``(H, W, 3)`` uint8) as an mp4 file.

    Frames are encoded as they come, so an iterator writes long videos in flat memory.
    """
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise VideoError(f"no frames to write to {path}")
    with atomic_path(path, suffix=".mp4") as tmp, Mp4Encoder(str(tmp), fps, *first.shape[:2], crf=crf) as encoder:
        encoder.write(first)
        for frame in iterator:
            encoder.write(frame)


def resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize every frame to ``height`` x ``width`` (area filter down, bilinear up)."""
    import cv2

    frames = check_frames(frames)
    if frames.shape[1:3] == (height, width):
        return frames
    shrink = frames.shape[1] > height or frames.shape[2] > width
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


def center_crop_box(height: int, width: int) -> tuple[int, int, int]:
    """Top, left and side of the largest centred square of an ``height`` x ``width`` image."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def center_crop_resize(frames: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop frames to a square and resize it to ``size`` x ``size`` (the paper's 256)."""
    frames = check_frames(frames)
    top, left, side = center_crop_box(frames.shape[1], frames.shape[2])
    return resize(frames[:, top : top + side, left : left + side], size, size)
