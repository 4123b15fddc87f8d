"""Build the avatar-motion dataset: sources -> windows -> renders -> parquet shards + card.

The build runs in three passes.

1. The *plan* reads only motion, captions and video headers: valid windows of every source,
   the train/test cut, caption coverage - so a bad input fails before any frame is decoded.
   The planned windows are cut into *units*: one per source, or per ``chunk_windows``
   consecutive windows of a long source. Units depend on the plan alone, never on how many
   processes run them.
2. Each unit is *streamed*: its source is decoded once, front to back, the last ``span`` (46)
   frames are kept, every needed source frame is rendered exactly once (a frame is shared by
   up to 16 overlapping windows) and each finished window goes to the unit's own parquet
   writers. Memory is bounded by one window span. Units run in this process or in
   ``num_proc`` worker processes; each writes under a temporary name in the resumable work
   folder (:mod:`amg_bench.data.workdir`) and renames its folder when complete, so a killed
   build, rerun, redoes only the units that had not finished.
3. The *assembly* links the units' shards, in (source, start) order, to the final
   ``data/<split>-<i>-of-<n>.parquet`` names, and writes the card and ``amg_bench_build.json``
   with the content fingerprint (:mod:`amg_bench.data.fingerprint`): the same rows give the
   same fingerprint, whatever the number of processes.

``shard=(i, n)`` builds only the i-th of n contiguous groups of sources (balanced by clip
count) into a *part* folder; :func:`merge_shards` assembles the n parts into the dataset a
single build makes (same rows, same fingerprint).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BuildError, OutputExistsError
from ..files import atomic_directory, output_lock, sha256_file, write_json, write_text
from ..video import center_crop_box, center_crop_resize, encode_mp4, iter_frames
from .appearance import DEFAULT_STYLE, check_style, vertex_colors
from .card import render_card
from .controls import CONTROL_CLIPS, CONTROL_SPLIT, CONTROL_VARIANTS, control_clip_id, control_windows
from .densepose import body_face_parts, describe_convention
from .fingerprint import dataset_fingerprint, row_digest, source_digest
from .manifest import SourceSpec, load_manifest
from .sources import Source, load_source
from .windows import (
    PAPER_TRAIN_SIZE,
    Window,
    WindowSpec,
    assign_splits,
    natural_key,
    needed_frames,
    people_in_window,
)
from .workdir import BuildWork, source_identity, unit_key
from .writer import BUILD_INFO, SplitStats, SplitWriter, dataset_features, place_shards, video_cell

SPLIT_ORDER = ("train", "test", CONTROL_SPLIT)
MAX_RESOLUTION = 4096  # the side of a square clip; also the largest --eval-size
# Options that change the rows (so the fingerprint); the others only name, license or lay out files.
CONTENT_OPTIONS = (
    "train_size", "test_size", "split_gap", "resolution", "windows", "pose_video", "crf", "avatar_style", "controls",
    "control_clips",
)  # fmt: skip
PART_FORMAT = 1


@dataclass
class BuildConfig:
    """Every option of a build; written verbatim into the card and ``amg_bench_build.json``.

    Defaults reproduce the paper: 16 frames every 3rd frame of 24 fps sources, every frame a
    candidate start (``windows.stride`` 1), 256x256 centre crops, the first 5,500 valid windows
    for ``train`` and the rest for ``test``. ``chunk_windows`` bounds the windows of one build
    unit (the grain of parallelism and of resuming); ``max_shard_bytes`` the size of a shard.
    With ``license="other"`` the card also names the terms (``license_name``, ``license_link``).
    ``avatar_style`` is ``appearance`` (each body part in the colour measured on the real frames,
    :mod:`amg_bench.data.appearance`) or ``flat`` (one colour per person). ``controls`` adds the
    ``controls`` split: ``control_clips`` test clips under :data:`~amg_bench.data.controls.CONTROL_VARIANTS`.
    """

    train_size: int = PAPER_TRAIN_SIZE
    test_size: int | None = None
    split_gap: bool = False
    resolution: int = 256
    windows: WindowSpec = field(default_factory=WindowSpec)
    body_model: str = "mannequin"
    pose_video: bool = False
    crf: int = 18
    license: str = "other"
    license_name: str | None = None
    license_link: str | None = None
    pretty_name: str = "AMG avatar-motion human video clips"
    max_shard_bytes: int = 256 << 20
    chunk_windows: int = 2048
    avatar_style: str = DEFAULT_STYLE
    controls: bool = False
    control_clips: int = CONTROL_CLIPS

    def __post_init__(self) -> None:
        check_style(self.avatar_style)
        if isinstance(self.control_clips, bool) or not isinstance(self.control_clips, int) or self.control_clips < 1:
            raise BuildError(f"control_clips must be a positive integer, got {self.control_clips!r}")
        if self.resolution < 16 or self.resolution > MAX_RESOLUTION or self.resolution % 2:
            raise BuildError(f"--resolution must be an even number from 16 to {MAX_RESOLUTION}, got {self.resolution}")
        if self.chunk_windows < 1:
            raise BuildError(f"chunk_windows must be >= 1, got {self.chunk_windows}")
        if self.license != "other" and (self.license_name or self.license_link):
            raise BuildError(
                f"--license-name / --license-link describe a licence 'other'; the licence here is {self.license!r}"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def content_options(self) -> dict:
        """The options the fingerprint covers: those that change what the rows hold."""
        options = self.to_dict()
        return {name: options[name] for name in CONTENT_OPTIONS}


@dataclass
class BuildReport:
    """What a build produced, and what it cost."""

    folder: Path
    splits: dict[str, int]
    fingerprint: str
    needed_frames: int
    renders: int
    seconds: float
    units_built: int = 0
    units_reused: int = 0
    part: tuple[int, int] | None = None
    unit_seconds: float = 0.0  # wall time of the units built now, summed over units
    unit_cpu_seconds: float = 0.0  # their CPU time (their process's), summed

    @property
    def clips_per_second(self) -> float:
        return sum(self.splits.values()) / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class BuildUnit:
    """Consecutive planned windows of one source: ``(start, split)`` pairs in start order."""

    source_id: str
    windows: tuple[tuple[int, str], ...]
    kind: str = "clips"  # "clips": windows streamed from the source; "controls": test windows re-rendered

    @property
    def id(self) -> str:
        infix = ".controls" if self.kind == "controls" else ""
        return f"{self.source_id}{infix}.{self.windows[0][0]:07d}-{self.windows[-1][0]:07d}"

    @property
    def splits(self) -> list[str]:
        return [name for name in SPLIT_ORDER if any(split == name for _, split in self.windows)]


def cropped_intrinsics(intrinsics: np.ndarray, height: int, width: int, resolution: int) -> np.ndarray:
    """Intrinsics of the centre-cropped frames resized to ``resolution`` squared.

    Pixel centres sit at integer coordinates (OpenCV), so a resize by ``s`` maps
    ``u -> (u + 0.5) s - 0.5``; the crop shifts the principal point by the crop's corner.
    """
    top, left, side = center_crop_box(height, width)
    scale = resolution / side
    k = np.array(intrinsics, dtype=np.float64)
    k[0, 0] *= scale
    k[1, 1] *= scale
    k[0, 1] *= scale
    k[0, 2] = (k[0, 2] - left + 0.5) * scale - 0.5
    k[1, 2] = (k[1, 2] - top + 0.5) * scale - 0.5
    return k.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The plan (motion, captions and headers only)
# ---------------------------------------------------------------------------------------------


def plan_windows(sources: Sequence[Source], config: BuildConfig) -> dict[str, list[Window]]:
    """Valid windows of all sources, cut into splits, with caption coverage checked.

    Raises:
        BuildError: no valid window, or split sizes that cannot be met.
        CaptionError: a written window or person lacks a caption.
    """
    windows = [Window(s.id, int(start)) for s in sources for start in s.valid_starts(config.windows)]
    splits = assign_splits(windows, config.train_size, config.test_size, config.split_gap, config.windows)
    by_source = {s.id: s for s in sources}
    kept: dict[str, list[Window]] = {}
    for split_windows in splits.values():
        for window in split_windows:
            kept.setdefault(window.source_id, []).append(window)
    for source_id, source_windows in kept.items():
        source = by_source[source_id]
        people = set()
        for w in source_windows:
            people.update(
                source.motion.person_ids[p] for p in people_in_window(source.motion.valid, w.start, config.windows)
            )
        source.captions.check_covers(
            [(w.start, config.windows.caption_frame(w.start)) for w in source_windows],
            people,
            str(source.spec.captions),
        )
    return splits


def plan_units(splits: dict[str, list[Window]], chunk_windows: int) -> list[BuildUnit]:
    """Cut the planned windows into units: per source (natural order), at most ``chunk_windows`` each.

    Chunks of one source are balanced (``ceil(n / chunk_windows)`` near-equal runs), so the
    layout depends on the plan and ``chunk_windows`` only.
    """
    by_source: dict[str, list[tuple[int, str]]] = {}
    for name, windows in splits.items():
        for window in windows:
            by_source.setdefault(window.source_id, []).append((window.start, name))
    units = []
    for source_id in sorted(by_source, key=natural_key):
        planned = sorted(by_source[source_id])
        pieces = -(-len(planned) // chunk_windows)
        bounds = np.linspace(0, len(planned), pieces + 1).round().astype(int)
        units += [BuildUnit(source_id, tuple(planned[a:b])) for a, b in pairwise(bounds.tolist())]
    return units


def shard_groups(units: Sequence[BuildUnit], count: int) -> list[list[str]]:
    """``count`` contiguous groups of source ids (natural order), balanced by their clip counts.

    A source goes to group ``floor(count * (clips before it + half its clips) / all clips)``.
    """
    clips: dict[str, int] = {}
    for unit in units:
        clips[unit.source_id] = clips.get(unit.source_id, 0) + len(unit.windows)
    total = sum(clips.values())
    groups: list[list[str]] = [[] for _ in range(count)]
    before = 0
    for source_id in sorted(clips, key=natural_key):
        index = min(count - 1, int(count * (before + clips[source_id] / 2) / total))
        groups[index].append(source_id)
        before += clips[source_id]
    return groups


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``.

    Raises:
        BuildError: anything else.
    """
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise BuildError(f"--shard must be I/N (e.g. 0/4, the first of four), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise BuildError(f"--shard {text}: I must be in 0..N-1 and N >= 1")
    return index, count


# ---------------------------------------------------------------------------------------------
# One unit: decode, render, encode, write
# ---------------------------------------------------------------------------------------------


def plan_control_units(splits: dict[str, list[Window]], count: int) -> list[BuildUnit]:
    """One ``controls`` unit per source holding some of the :func:`~amg_bench.data.controls.control_windows`.

    Units come in the sources' natural order; each lists its windows' starts in order.
    """
    by_source: dict[str, list[tuple[int, str]]] = {}
    for window in control_windows(splits.get("test", []), count):
        by_source.setdefault(window.source_id, []).append((window.start, CONTROL_SPLIT))
    return [
        BuildUnit(source_id, tuple(sorted(by_source[source_id])), kind="controls")
        for source_id in sorted(by_source, key=natural_key)
    ]


class _FrameStream:
    """Decode a source once and produce, for each needed frame, the real and rendered images."""

    def __init__(self, source: Source, body, config: BuildConfig, counter: dict, palettes: np.ndarray) -> None:
        self.source, self.body, self.config, self.counter = source, body, config, counter
        motion = source.motion
        self.intrinsics = source_intrinsics(source, config)
        self.palettes = palettes
        self._colours = None
        if config.avatar_style == "appearance" and body is not None:
            self._colours = [vertex_colors(palettes[p], body.part_labels) for p in range(motion.num_people)]

    def _crop(self, frame: np.ndarray) -> np.ndarray:
        return center_crop_resize(frame[None], self.config.resolution)[0]

    def _render(self, frame_index: int, mode: str) -> np.ndarray:
        from .render import Camera, render_people

        motion = self.source.motion
        people = np.flatnonzero(motion.valid[:, frame_index]) if frame_index < motion.num_frames else []
        camera = Camera(self.intrinsics, motion.extrinsics[frame_index], self.config.resolution, self.config.resolution)
        meshes = []
        if len(people):
            vertices, _ = self.body.forward(
                motion.global_orient[people, frame_index],
                motion.body_pose[people, frame_index],
                motion.betas[people],
                motion.transl[people, frame_index],
            )
            meshes = list(vertices)
        self.counter[mode] = self.counter.get(mode, 0) + 1
        parts = body_face_parts(self.body).labels if mode == "parts" else None  # DensePose convention
        colours = [self._colours[p] for p in people] if self._colours is not None and mode == "shaded" else None
        return render_people(
            meshes, self.body.faces, camera, list(people), mode=mode, face_parts=parts, vertex_colors=colours
        )

    def frames(self, needed: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
        spec = self.source.spec
        wanted = set(int(f) for f in needed)
        first = int(needed.min()) if len(needed) else 0
        last = int(needed.max()) if len(needed) else -1
        real_frames = iter_frames(spec.video)
        avatar_frames = iter_frames(spec.avatar_video) if spec.avatar_video else None
        pose_frames = iter_frames(spec.pose_video) if spec.pose_video else None
        for index, real in enumerate(real_frames):
            avatar_src = next(avatar_frames) if avatar_frames else None
            pose_src = next(pose_frames) if pose_frames else None
            if index > last:
                break
            if index < first or index not in wanted:
                continue
            avatar = self._crop(avatar_src) if avatar_src is not None else self._render(index, "shaded")
            pose = None
            if self.config.pose_video:
                pose = self._crop(pose_src) if pose_src is not None else self._render(index, "parts")
            yield index, self._crop(real), avatar, pose


def source_intrinsics(source: Source, config: BuildConfig) -> np.ndarray:
    """The camera intrinsics of a source's stored (cropped, resized) frames."""
    return cropped_intrinsics(source.motion.intrinsics, source.video.height, source.video.width, config.resolution)


def _row_values(
    source: Source, window: Window, intrinsics: np.ndarray, palettes: np.ndarray, config: BuildConfig
) -> dict:
    """A window's row without its videos: ids, captions, people, motion, camera, palettes."""
    spec = config.windows
    sampled = spec.sampled_frames(window.start)
    motion = source.motion
    people = people_in_window(motion.valid, window.start, spec)
    ids = [motion.person_ids[p] for p in people]
    values = {
        "clip_id": window.clip_id,
        "source_id": source.id,
        "start_frame": int(window.start),
        "fps": float(spec.clip_fps),
        "num_frames": int(spec.num_frames),
        "scene_caption": source.captions.scene(window.start, spec.caption_frame(window.start)),
        "appearance_captions": [source.captions.appearance[i] for i in ids],
        "num_people": len(people),
        "person_ids": ids,
        "body_model": motion.body_model,
        "smpl": [
            {
                "global_orient": motion.global_orient[p, sampled].tolist(),
                "body_pose": motion.body_pose[p, sampled].tolist(),
                "betas": motion.betas[p].tolist(),
                "transl": motion.transl[p, sampled].tolist(),
            }
            for p in people
        ],
        "camera": {
            "intrinsics": intrinsics.tolist(),
            "extrinsics": motion.extrinsics[sampled].tolist(),
            "height": config.resolution,
            "width": config.resolution,
        },
        "appearance_colors": palettes[people].tolist(),
    }
    if config.controls:
        values |= {"control": None, "control_of": None}
    return values


def _encoded(values: dict, clips: dict[str, np.ndarray], config: BuildConfig) -> tuple[dict, str]:
    """The row (``values`` with the videos encoded) and its digest (over the frames before encoding)."""
    digest = row_digest(values, clips)
    row = dict(values)
    for name, clip in clips.items():
        row[name] = video_cell(encode_mp4(clip, values["fps"], crf=config.crf), values["clip_id"])
    return row, digest


def _row(source: Source, window: Window, frames: dict, stream: _FrameStream, config: BuildConfig) -> tuple[dict, str]:
    """One dataset row (videos encoded) and its content digest (over the frames before encoding)."""
    sampled = config.windows.sampled_frames(window.start)
    values = _row_values(source, window, stream.intrinsics, stream.palettes, config)
    slots = {"video": 0, "avatar_video": 1} | ({"pose_video": 2} if config.pose_video else {})
    clips = {name: np.stack([frames[int(f)][slot] for f in sampled]) for name, slot in slots.items()}
    return _encoded(values, clips, config)


def _stream_rows(
    source: Source, planned: Sequence[tuple[Window, str]], body, config: BuildConfig, counter: dict, palettes
) -> Iterator[tuple[str, dict, str]]:
    spec = config.windows
    stream = _FrameStream(source, body, config, counter, palettes)
    pending = deque(planned)
    buffer: dict[int, tuple] = {}
    needed = needed_frames([window.start for window, _ in planned], spec)
    for index, real, avatar, pose in stream.frames(needed):
        buffer[index] = (real, avatar, pose)
        while pending and pending[0][0].start + spec.span - 1 <= index:
            window, split = pending.popleft()
            row, digest = _row(source, window, buffer, stream, config)
            yield split, row, digest
        oldest = pending[0][0].start if pending else index + 1
        for frame in [f for f in buffer if f < oldest]:
            del buffer[frame]
    if pending:
        raise BuildError(f"video {source.spec.video} ended before window {pending[0][0].clip_id} was complete")


def _control_rows(
    source: Source, planned: Sequence[tuple[Window, str]], body, config: BuildConfig, counter: dict, palettes
) -> Iterator[tuple[str, dict, str]]:
    """The ``controls`` rows of a unit's test windows: every variant, rendered without decoding the source."""
    from .controls import variant_view, window_clip
    from .views import clip_framing, pose_people, render_views

    spec = config.windows
    intrinsics = source_intrinsics(source, config)
    resolution = config.resolution
    for window, split in planned:
        people = people_in_window(source.motion.valid, window.start, spec)
        base = _row_values(source, window, intrinsics, palettes, config)
        clip = window_clip(source.motion, people, spec.sampled_frames(window.start), body.num_betas)
        vertices, _ = pose_people(body, clip)
        framing = clip_framing(clip, vertices)
        looks = palettes[people] if config.avatar_style == "appearance" else None
        for variant in CONTROL_VARIANTS:
            shown, extrinsics = variant_view(clip, variant, framing, intrinsics, resolution)
            posed = vertices[:, ::-1] if variant == "reverse" else vertices
            view = (body, posed, shown.visible, intrinsics, extrinsics, resolution, resolution, looks, people)
            clips = {"avatar_video": render_views(*view, mode="shaded")}
            if config.pose_video:
                clips["pose_video"] = render_views(*view, mode="parts")
            counter["shaded"] = counter.get("shaded", 0) + len(extrinsics)
            values = dict(base)
            values["clip_id"] = control_clip_id(window.clip_id, variant)
            values["smpl"] = [
                {
                    "global_orient": shown.global_orient[i].astype(np.float32).tolist(),
                    "body_pose": shown.body_pose[i].astype(np.float32).tolist(),
                    "betas": person["betas"],
                    "transl": shown.transl[i].astype(np.float32).tolist(),
                }
                for i, person in enumerate(base["smpl"])
            ]
            values["camera"] = dict(base["camera"], extrinsics=extrinsics.astype(np.float32).tolist())
            values |= {"control": variant, "control_of": window.clip_id}
            row, digest = _encoded(values, clips, config)
            row["video"] = None
            yield split, row, digest


@dataclass
class UnitTask:
    """Everything a (possibly separate) process needs to build one unit."""

    unit: BuildUnit
    spec: SourceSpec
    config: BuildConfig
    key: str
    work: str  # the out path whose work folder holds the unit


_BODIES: dict[str, Any] = {}


def _body(spec: str):
    from .body_model import load_body_model

    if spec not in _BODIES:
        _BODIES[spec] = load_body_model(spec)
    return _BODIES[spec]


def needs_body(spec: SourceSpec, config: BuildConfig, kind: str = "clips") -> bool:
    """Whether a source's unit poses bodies: a render to make, a palette to measure, or control views."""
    renders = not spec.avatar_video or (config.pose_video and not spec.pose_video)
    return renders or config.avatar_style == "appearance" or kind == "controls"


def build_unit(task: UnitTask, on_row: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build one unit into the work folder and return its record (see :mod:`amg_bench.data.workdir`).

    A ``clips`` unit streams its source's frames; a ``controls`` unit re-renders its test
    windows (:mod:`amg_bench.data.controls`) and decodes only the frames its palettes are measured on.

    Raises:
        VideoError, BuildError: the source cannot be decoded to the end of the unit's windows.
    """
    from .appearance import flat_palette
    from .source_appearance import source_palettes

    started, cpu_started = time.perf_counter(), time.process_time()
    config, unit = task.config, task.unit
    body = _body(config.body_model)
    source = load_source(task.spec, config.windows, body)  # the planner's visibility mask (cached)
    body = body if needs_body(task.spec, config, unit.kind) else None
    if body is not None:
        palettes = source_palettes(
            source, body, source_intrinsics(source, config), config.resolution, config.avatar_style
        )
    else:
        palettes = flat_palette(range(source.motion.num_people))
    work = BuildWork(task.work)
    tmp = work.new_unit(unit.id)
    try:
        features = dataset_features(config.pose_video, config.controls)
        writers = {name: SplitWriter(tmp, name, features, config.max_shard_bytes) for name in unit.splits}
        digests: dict[str, list[str]] = {name: [] for name in unit.splits}
        counter: dict[str, int] = {}
        planned = [(Window(unit.source_id, start), split) for start, split in unit.windows]
        make_rows = _control_rows if unit.kind == "controls" else _stream_rows
        for split, row, digest in make_rows(source, planned, body, config, counter, palettes):
            writers[split].write(row)
            digests[split].append(digest)
            if on_row is not None:
                on_row(row["clip_id"])
        stats = {name: writer.close().to_json() for name, writer in writers.items()}
        streamed = [start for start, _ in unit.windows] if unit.kind == "clips" else []
        record = {
            "key": task.key,
            "unit": unit.id,
            "source_id": unit.source_id,
            "windows": [list(window) for window in unit.windows],
            "splits": stats,
            "digests": digests,
            "needed_frames": len(needed_frames(streamed, config.windows)) if streamed else 0,
            "renders": counter.get("shaded", 0),
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started,
        }
        work.commit(tmp, unit.id, record)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return record


def _worker_init() -> None:
    """A worker process: one thread for torch and OpenCV (the processes are the parallelism)."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


class _OneThreadEnv:
    """Environment for worker processes: BLAS pools of one thread, set before their numpy loads."""

    NAMES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

    def __enter__(self):
        self.saved = {name: os.environ.get(name) for name in self.NAMES}
        os.environ.update(dict.fromkeys(self.NAMES, "1"))

    def __exit__(self, *_):
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Imported once by the fork server, so each worker starts as a fork of a process that has them.
WORKER_PRELOAD = ("numpy", "cv2", "av", "torch", "smplx", "datasets", "pyarrow.parquet", "amg_bench.data.builder")


def _worker_context():
    """``forkserver`` with the heavy imports preloaded, else ``spawn``.

    The fork server imports torch, datasets and the rest once; each worker is a fork of it, so
    N workers do not pay N imports. Neither method forks the caller, which may hold threads
    (torch's, the progress bar's). Both re-import
    the calling script as ``__mp_main__`` in each worker, so a script that builds with
    ``num_proc > 1`` must do so under ``if __name__ == "__main__":``.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    return context


def _run_units(tasks: list[UnitTask], num_proc: int, bar) -> list[dict[str, Any]]:
    """Run tasks in this process (``num_proc`` 1) or in a pool of worker processes; records in task order."""
    if num_proc <= 1 or len(tasks) <= 1:

        def on_row(clip_id: str) -> None:
            bar.set_postfix_str(clip_id, refresh=False)
            bar.update()

        return [build_unit(task, on_row) for task in tasks]
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    with _OneThreadEnv(), ProcessPoolExecutor(min(num_proc, len(tasks)), _worker_context(), _worker_init) as pool:
        futures = {pool.submit(build_unit, task): index for index, task in enumerate(tasks)}
        records: list[dict[str, Any] | None] = [None] * len(tasks)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                record = future.result()
                records[futures[future]] = record
                bar.set_postfix_str(record["unit"], refresh=False)
                bar.update(sum(len(d) for d in record["digests"].values()))
    return records  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------


def describe_sources(sources: Sequence[Source]) -> str:
    return (
        f"{len(sources)} source video(s): "
        + ", ".join(f"`{s.id}` ({s.video.num_frames} frames, {s.video.width}x{s.video.height})" for s in sources)
        + "."
    )


def _source_digests(records: Sequence[dict]) -> dict[str, list[list]]:
    """Per split, ``[source_id, rows, digest]`` in row order, from unit records in unit (= row) order."""
    rows: dict[str, dict[str, list[str]]] = {}
    for record in records:
        for split, digests in record["digests"].items():
            rows.setdefault(split, {}).setdefault(record["source_id"], []).extend(digests)
    return {split: [[sid, len(d), source_digest(d)] for sid, d in by.items()] for split, by in rows.items()}


def _plan_digest(units: Sequence[BuildUnit], content: dict) -> str:
    """Identity of a whole plan: the parts of one sharded build share it."""
    return unit_key({"content": content, "units": [[u.id, [list(w) for w in u.windows]] for u in units]})


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output {out} already exists; pass --overwrite to replace it")


def build_dataset(
    sources: Sequence[SourceSpec] | str | Path,
    out: str | Path,
    config: BuildConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    source_description: str | None = None,
    num_proc: int = 1,
    shard: tuple[int, int] | str | None = None,
) -> BuildReport:
    """Build the dataset folder ``out`` from a manifest (path) or a list of :class:`SourceSpec`.

    The folder is written under a temporary name and renamed when complete, so it is either
    absent or whole; it is exactly what :func:`amg_bench.publish` uploads. ``num_proc``
    processes build the units (same rows and fingerprint as one). A run that was killed is
    resumed by the same call: finished units are kept (``overwrite`` drops them). ``shard``
    ``(i, n)`` (or ``"i/n"``) builds the i-th of n source groups into a part folder for
    :func:`merge_shards`.

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
        ManifestError, VideoError, MotionError, CaptionError, BuildError, BodyModelError: bad input.
    """
    from tqdm.auto import tqdm

    from .body_model import load_body_model

    config = config or BuildConfig()
    started = time.perf_counter()
    out = Path(out)
    _check_out(out, overwrite)
    if shard is not None:
        shard = parse_shard(shard if isinstance(shard, str) else "/".join(map(str, shard)))
    if isinstance(num_proc, bool) or not isinstance(num_proc, int) or num_proc < 1:
        raise BuildError(f"num_proc must be a positive integer, got {num_proc!r}")
    specs = load_manifest(sources) if isinstance(sources, (str, Path)) else list(sources)
    specs = sorted(specs, key=lambda s: natural_key(s.id))
    body = load_body_model(config.body_model)
    loaded = [load_source(spec, config.windows, body) for spec in specs]
    splits = plan_windows(loaded, config)
    units = plan_units(splits, config.chunk_windows)
    if config.controls:
        units += plan_control_units(splits, config.control_clips)
    posed = {unit.source_id for unit in units if unit.kind == "controls"}
    for source in loaded:  # sources whose renders are all precomputed (and flat) pose no body
        if needs_body(source.spec, config, "controls" if source.id in posed else "clips"):
            require_body_model(source.motion, body, str(source.spec.motion))
    rendered_pose = [s.id for s in loaded if config.pose_video and (not s.spec.pose_video or s.id in posed)]
    pose_parts = body_face_parts(body) if rendered_pose else None  # fails here, before any frame, without them
    content = config.content_options()
    plan = _plan_digest(units, content)
    chosen = units
    if shard is not None:
        group = set(shard_groups(units, shard[1])[shard[0]])
        chosen = [unit for unit in units if unit.source_id in group]
    by_id = {spec.id: spec for spec in specs}
    identities = {spec.id: source_identity(spec) for spec in specs}
    layout = {
        "max_shard_bytes": config.max_shard_bytes,
        "body_model": config.body_model,
        "format": PART_FORMAT,
        "version": _version(),
    }
    _BODIES[config.body_model] = body
    tasks = [
        UnitTask(
            unit,
            by_id[unit.source_id],
            config,
            unit_key(
                {
                    "content": content,
                    "layout": layout,
                    "source": identities[unit.source_id],
                    "unit": [unit.id, [list(window) for window in unit.windows]],
                }
            ),
            str(out),
        )
        for unit in chosen
    ]

    work = BuildWork(out)
    with output_lock(work.root, target=out):  # one build of out at a time
        try:
            _check_out(out, overwrite)  # again: another build may have finished while this one planned
            work.open(overwrite)
            work.prune({task.unit.id for task in tasks})
            finished = {task.unit.id: work.finished(task.unit.id, task.key) for task in tasks}
            todo = [task for task in tasks if finished[task.unit.id] is None]
            total = sum(len(task.unit.windows) for task in todo)
            with tqdm(total=total, desc="building clips", unit="clip", disable=not progress) as bar:
                built = _run_units(todo, num_proc, bar)
            for record in built:
                finished[record["unit"]] = record
            records = [finished[task.unit.id] for task in tasks]
            options = {**config.to_dict(), "body_model_kind": body.kind}
            descriptions = {
                "sources": source_description or describe_sources(loaded),
                "render": _render_description(body, config.avatar_style),
                "pose": _pose_description(loaded, rendered_pose, pose_parts),
                "controls": _controls_description(config, units) if config.controls else "",
            }
            folder_info = {
                "amg_bench_version": _version(),
                "options": options,
                "content_options": content,
                "sources": [
                    {"id": s.id, "frames": s.video.num_frames, "height": s.video.height, "width": s.video.width}
                    for s in loaded
                ],
            }
            part = None
            if shard is not None:
                part = {
                    "format": PART_FORMAT,
                    "index": shard[0],
                    "count": shard[1],
                    "plan": plan,
                    "group": list(dict.fromkeys(task.unit.source_id for task in tasks)),
                    "descriptions": descriptions,
                    "needed_frames": sum(r["needed_frames"] for r in records),
                    "renders": sum(r["renders"] for r in records),
                }
            stats, fingerprint = _assemble(
                out,
                overwrite,
                [(work.units / r["unit"], r) for r in records],
                folder_info,
                descriptions,
                part=part,
            )
        except BaseException:
            work.clean_after_failure()
            raise
        work.discard()
    renders = sum(r["renders"] for r in records) if not any(s.avatar_video for s in specs) else 0
    return BuildReport(
        out,
        {s.name: s.num_examples for s in stats},
        fingerprint,
        sum(r["needed_frames"] for r in records),
        renders,
        time.perf_counter() - started,
        units_built=len(built),
        units_reused=len(records) - len(built),
        part=shard,
        unit_seconds=sum(r["seconds"] for r in built),
        unit_cpu_seconds=sum(r["cpu_seconds"] for r in built),
    )


def _assemble(
    out: Path,
    overwrite: bool,
    pieces: Sequence[tuple[Path, dict]],
    info: dict,
    descriptions: dict,
    part: dict | None = None,
    link: bool = True,
) -> tuple[list[SplitStats], str]:
    """Write the final folder from unit (or part) folders and their records; return split stats and fingerprint.

    ``pieces`` are in row order; each record has ``splits`` (split stats) and, for the
    fingerprint, ``digests`` (row digests per split) or ``source_digests``.
    """
    digests = _combine_source_digests(pieces)
    fingerprint = dataset_fingerprint(info["content_options"], {k: [tuple(e) for e in v] for k, v in digests.items()})
    with atomic_directory(out, overwrite=overwrite) as folder:
        stats = []
        for name in SPLIT_ORDER:
            split_pieces = [
                (path, SplitStats.from_json(record["splits"][name]))
                for path, record in pieces
                if name in record["splits"]
            ]
            if split_pieces:
                stats.append(place_shards(folder, split_pieces, mode="link" if link else "copy"))
        build_info = {
            **info,
            "fingerprint": fingerprint,
            "splits": {s.name: {"num_examples": s.num_examples, "files": s.sha256} for s in stats},
            "source_digests": digests,
        }
        if part is not None:
            build_info["part"] = part
            build_info["split_stats"] = {s.name: s.to_json() for s in stats}
        else:
            write_text(
                folder / "README.md",
                render_card(
                    folder,
                    dataset_features(info["options"]["pose_video"], info["options"].get("controls", False)),
                    stats,
                    info["options"],
                    fingerprint,
                    descriptions,
                ),
            )
        write_json(folder / BUILD_INFO, build_info)
    return stats, fingerprint


def _combine_source_digests(pieces: Sequence[tuple[Path, dict]]) -> dict[str, list[list]]:
    """Per split, ``[source_id, rows, digest]`` in row order, from unit records or part records (in row order).

    The order is kept, not re-sorted: a dataset whose shards were put together in another
    order holds its rows in another order, and gets another fingerprint.
    """
    unit_records = [record for _, record in pieces if "digests" in record]
    combined = _source_digests(unit_records) if unit_records else {}
    for _, record in pieces:
        for split, entries in record.get("source_digests", {}).items():
            combined.setdefault(split, []).extend(entries)
    return dict(sorted(combined.items()))


# ---------------------------------------------------------------------------------------------
# Merging parts
# ---------------------------------------------------------------------------------------------


def _read_part(path: Path) -> dict:
    if not path.is_dir():
        raise BuildError(f"part folder {path} does not exist")
    info_path = path / BUILD_INFO
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"{path} is not a part of a sharded build: cannot read {BUILD_INFO} ({exc})") from exc
    part = info.get("part") if isinstance(info, dict) else None
    if not isinstance(part, dict) or part.get("format") != PART_FORMAT:
        raise BuildError(f"{path} is not a part of a sharded build (made with build-dataset --shard I/N)")
    return info


def merge_shards(out: str | Path, parts: Sequence[str | Path], overwrite: bool = False) -> BuildReport:
    """Assemble the parts of a ``--shard I/N`` build into the dataset a single build would make.

    Every part must come from the same plan (same sources, options and windows) and the parts
    must be exactly ``0/N`` .. ``N-1/N``; every shard's sha256 is checked against its part's
    record. Shards are linked (or copied across file systems); the parts are left as they are.

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
        BuildError: a folder that is not a part, parts of different builds, missing or
            repeated parts, or a shard whose bytes changed.
    """
    started = time.perf_counter()
    out = Path(out)
    _check_out(out, overwrite)
    if not parts:
        raise BuildError("merge-shards needs the part folders to merge")
    infos = [(Path(p), _read_part(Path(p))) for p in parts]
    first = infos[0][1]
    for path, info in infos[1:]:
        if info["part"]["plan"] != first["part"]["plan"] or info["part"]["count"] != first["part"]["count"]:
            raise BuildError(
                f"{path} is a part of another build than {infos[0][0]} (different sources, options or "
                f"--shard N: plan {info['part']['plan'][:12]} of {info['part']['count']} vs "
                f"{first['part']['plan'][:12]} of {first['part']['count']})"
            )
    count = first["part"]["count"]
    indices = sorted(info["part"]["index"] for _, info in infos)
    missing = sorted(set(range(count)) - set(indices))
    repeated = sorted({i for i in indices if indices.count(i) > 1})
    if missing or repeated:
        raise BuildError(
            f"merge-shards needs parts 0..{count - 1} of {count} exactly once: "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and repeated else "")
            + (f"given twice {repeated}" if repeated else "")
        )
    infos.sort(key=lambda item: item[1]["part"]["index"])
    for path, info in infos:
        for split in info["split_stats"].values():
            for name, digest in split["sha256"].items():
                file = path / name
                if not file.is_file() or sha256_file(file) != digest:
                    raise BuildError(f"part {path}: shard {name} is missing or changed since the part was built")
    pieces = [(path, {"splits": info["split_stats"], "source_digests": info["source_digests"]}) for path, info in infos]
    keys = ("amg_bench_version", "options", "content_options", "sources")
    folder_info = {key: first[key] for key in keys}
    try:
        stats, fingerprint = _assemble(out, overwrite, pieces, folder_info, first["part"]["descriptions"], link=True)
    except ValueError as exc:
        raise BuildError(f"merge-shards: {exc}") from exc
    return BuildReport(
        out,
        {s.name: s.num_examples for s in stats},
        fingerprint,
        sum(info["part"]["needed_frames"] for _, info in infos),
        sum(info["part"]["renders"] for _, info in infos),
        time.perf_counter() - started,
    )


_BODY_MODEL_HINTS = {
    "mannequin": "--body-model mannequin",
    "smpl": "--body-model pointing at an SMPL file (e.g. SMPL_NEUTRAL.pkl from https://smpl.is.tue.mpg.de)",
    "smplx": "--body-model pointing at an SMPL-X file (e.g. SMPLX_NEUTRAL.npz from https://smpl-x.is.tue.mpg.de)",
}


def require_body_model(motion, body, where: str) -> None:
    """Refuse to pose a motion with another body model than the one it was made for.

    A motion's ``transl`` places *its* model's pelvis and its ``betas`` are that model's shape
    space, so the mannequin, SMPL and SMPL-X are not interchangeable.

    Raises:
        BuildError: naming the motion, both kinds and the option that fixes it.
    """
    if motion.body_model != body.kind:
        raise BuildError(
            f"motion {where} was made for the '{motion.body_model}' body model (its transl and betas are in that "
            f"model's terms), but the body model here is '{body.kind}' ({body.path}): pass "
            f"{_BODY_MODEL_HINTS[motion.body_model]}, or re-make the motion with the '{body.kind}' body model"
        )


def _render_description(body, style: str) -> str:
    from .appearance import ERODE_FRACTION, PALETTE_FRAMES

    if style == "appearance":
        look = (
            "avatar style `appearance`: each of the 24 body parts of each person in the colour measured on the "
            "real pixels it covers (per frame the median of its visible pixels, silhouette eroded by "
            f"1/{round(1 / ERODE_FRACTION)} of the frame side and divided by the render's light; then the "
            f"median over up to {PALETTE_FRAMES} "
            "frames spread over the person's valid frames of the source; a part never seen takes its parent's), "
            "stored per row in `appearance_colors`"
        )
    else:
        look = "avatar style `flat`: one fixed colour per person (`appearance_colors` repeats it for every part)"
    return (
        f"the `{body.kind}` body model (SMPL format) posed with each clip's parameters through "
        f"`smplx`, rasterised from the clip's camera on black, Lambert-lit; {look}. Each source frame is "
        "rendered once and shared by every window that samples it. "
        "The paper renders textured HumanGaussian avatars instead; precomputed renders can replace these "
        "through the manifest's `avatar_video`."
    )


def _controls_description(config: BuildConfig, units: Sequence[BuildUnit]) -> str:
    bases = sum(len(u.windows) for u in units if u.kind == "controls")
    variants = ", ".join(f"`{v}`" for v in CONTROL_VARIANTS)
    return (
        f"{bases} test clips (at most {config.control_clips}, spread evenly over the test split in row order, "
        f"the first and the last included) under {len(CONTROL_VARIANTS)} variants each: {variants}. Camera "
        "paths are framed on the clip's people (the camera looks at the centre of their box over the clip and "
        "starts where the sphere holding them spans 90% of the frame, on the side of the clip's first camera); "
        "`orbit:DEG` turns about the up axis through that centre by DEG degrees in total; `zoom-in` / `zoom-out` "
        "move the camera along its line of sight until the people look 1.5 times larger / smaller; `reverse` "
        "plays the people's motion backwards through the clip's own cameras. Rows keep their clip's captions, "
        "people and `appearance_colors`, hold the motion and cameras they were rendered with, name `control` "
        "and `control_of`, and have no real `video`."
    )


def _pose_description(sources: Sequence[Source], rendered: list[str], parts) -> str:
    supplied = [s.id for s in sources if s.spec.pose_video]
    text = f"{describe_convention()}."
    if rendered:
        text += f" Rendered from the same posed meshes and cameras for {len(rendered)} source(s); part of each face: {parts.source}."
    if supplied:
        text += f" User-supplied DensePose videos (manifest `pose_video`) for: {', '.join(f'`{i}`' for i in supplied)}."
    return text


def _version() -> str:
    from .. import __version__

    return __version__
