"""Loaded sources: a manifest entry's files read, checked against each other, and planned.

A source is usable when its video runs at the windows' source fps, its motion file was made
for that very video (its size, frame rate and frame count), its optional precomputed renders
match the video,
and its captions cover every window that will be written. All of that is checked before any
frame is decoded, so a bad source fails the build at once with the offending path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import MotionError, VideoError
from ...video import VideoInfo, probe
from ..captions import Captions, load_captions
from ..manifest import SourceSpec
from ..motion import Motion, load_motion
from ..windows import WindowSpec, valid_starts

FPS_TOLERANCE = 0.01


def retime_hint(fps: float) -> str:
    """How to bring a video to ``fps`` keeping its frames one to one (so motion frame indices still match)."""
    return (
        f"re-time it keeping every frame: `ffmpeg -r {fps:g} -i in.mp4 -an -c:v libx264 -crf 16 out.mp4` "
        f"(-r before -i re-stamps the frames; -r after -i resamples, duplicating or dropping frames, so "
        f"motion frame indices drift from the video)"
    )


@dataclass
class Source:
    """One source video with its motion and captions, validated."""

    spec: SourceSpec
    video: VideoInfo
    motion: Motion
    captions: Captions

    @property
    def id(self) -> str:
        return self.spec.id

    def valid_starts(self, windows: WindowSpec) -> np.ndarray:
        return valid_starts(self.motion.valid, self.video.num_frames, windows)


def _check_companion(path: Path | None, video: VideoInfo, name: str) -> None:
    if path is None:
        return
    info = probe(path)
    if (info.num_frames, info.height, info.width) != (video.num_frames, video.height, video.width):
        raise VideoError(
            f"{name} {path} has {info.num_frames} frames of {info.height}x{info.width}; "
            f"the source video has {video.num_frames} frames of {video.height}x{video.width}"
        )


def load_video_and_motion(spec: SourceSpec, windows: WindowSpec, body=None) -> tuple[VideoInfo, Motion]:
    """Probe a source's video and read its motion, checked against each other.

    With ``body`` (of the motion's kind), person-frames the camera does not see are made invalid
    (:mod:`amg_bench.data.visibility`).

    Raises:
        VideoError: unreadable video or wrong fps.
        MotionError: bad motion file, or a motion made for another video (size, fps, frame count).
    """
    video = probe(spec.video)
    if abs(video.fps - windows.source_fps) > FPS_TOLERANCE:
        raise VideoError(
            f"video {spec.video} runs at {video.fps:.6g} fps; sources must be {windows.source_fps:g} fps: "
            f"{retime_hint(windows.source_fps)}, then make its motion from out.mp4"
        )
    motion = load_motion(spec.motion)
    if tuple(motion.image_size) != (video.height, video.width):
        raise MotionError(
            f"motion {spec.motion} is for {motion.image_size[0]}x{motion.image_size[1]} frames; "
            f"video {spec.video} is {video.height}x{video.width}"
        )
    if abs(motion.fps - video.fps) > FPS_TOLERANCE or motion.num_frames != video.num_frames:
        raise MotionError(
            f"motion {spec.motion} was made for {motion.num_frames} frames at {motion.fps:.6g} fps, but video "
            f"{spec.video} has {video.num_frames} frames at {video.fps:.6g} fps: its frame indices would drift "
            "from the video's. Make the motion from this very video (amg-bench import-trace --video ...); if "
            f"the video was re-timed, {retime_hint(windows.source_fps)}"
        )
    if body is not None:
        from ..visibility import apply_visibility

        apply_visibility(motion, body, spec.motion)
    return video, motion


def load_source(spec: SourceSpec, windows: WindowSpec, body=None) -> Source:
    """Read and cross-check a source's files.

    Raises:
        VideoError: unreadable video, wrong fps, or precomputed renders that do not match.
        MotionError: bad motion file, or a motion made for another video (size, fps, frame count).
        CaptionError: bad captions file.
    """
    video, motion = load_video_and_motion(spec, windows, body)
    _check_companion(spec.avatar_video, video, "avatar_video")
    _check_companion(spec.pose_video, video, "pose_video")
    return Source(spec=spec, video=video, motion=motion, captions=load_captions(spec.captions))
