"""Build the avatar-motion dataset: sources -> windows -> renders -> parquet shards + card.

The build runs in two passes. The *plan* reads only motion, captions and video headers:
valid windows of every source, the train/test cut, caption coverage - so a bad input fails
before any frame is decoded. The *stream* then decodes each source once, front to back,
keeps the last ``span`` (46) frames, renders every needed source frame exactly once (a frame is
shared by up to 16 overlapping windows) and hands each finished window to the writer. Memory
is bounded by one window span, whatever the number of clips.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BuildError
from ..files import atomic_directory, write_json, write_text
from ..video import center_crop_box, center_crop_resize, encode_mp4, iter_frames
from .card import render_card
from .densepose import body_face_parts, describe_convention
from .manifest import SourceSpec, load_manifest
from .sources import Source, load_source
from .windows import PAPER_TRAIN_SIZE, Window, WindowSpec, assign_splits, needed_frames, people_in_window
from .writer import BUILD_INFO, SplitWriter, content_fingerprint, dataset_features


@dataclass
class BuildConfig:
    """Every option of a build; written verbatim into the card and ``amg_bench_build.json``.

    Defaults reproduce the paper: 16 frames every 3rd frame of 24 fps sources, 256x256
    centre crops, the first 5,500 valid windows for ``train`` and the rest for ``test``.
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
    pretty_name: str = "AMG avatar-motion human video clips"
    max_shard_bytes: int = 256 << 20

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.resolution % 2:
            raise BuildError(f"resolution must be an even number >= 16, got {self.resolution}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class BuildReport:
    """What a build produced, and what it cost."""

    folder: Path
    splits: dict[str, int]
    fingerprint: str
    needed_frames: int
    renders: int
    seconds: float

    @property
    def clips_per_second(self) -> float:
        return sum(self.splits.values()) / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class _Planned:
    window: Window
    split: str


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


class _FrameStream:
    """Decode a source once and produce, for each needed frame, the real and rendered images."""

    def __init__(self, source: Source, body, config: BuildConfig, counter: dict) -> None:
        self.source, self.body, self.config, self.counter = source, body, config, counter
        motion = source.motion
        self.intrinsics = cropped_intrinsics(
            motion.intrinsics, source.video.height, source.video.width, config.resolution
        )

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
        return render_people(meshes, self.body.faces, camera, list(people), mode=mode, face_parts=parts)

    def frames(self, needed: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
        spec = self.source.spec
        wanted = set(int(f) for f in needed)
        last = int(needed.max()) if len(needed) else -1
        real_frames = iter_frames(spec.video)
        avatar_frames = iter_frames(spec.avatar_video) if spec.avatar_video else None
        pose_frames = iter_frames(spec.pose_video) if spec.pose_video else None
        for index, real in enumerate(real_frames):
            avatar_src = next(avatar_frames) if avatar_frames else None
            pose_src = next(pose_frames) if pose_frames else None
            if index > last:
                break
            if index not in wanted:
                continue
            avatar = self._crop(avatar_src) if avatar_src is not None else self._render(index, "shaded")
            pose = None
            if self.config.pose_video:
                pose = self._crop(pose_src) if pose_src is not None else self._render(index, "parts")
            yield index, self._crop(real), avatar, pose


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


def _row(source: Source, window: Window, frames: dict, stream: _FrameStream, config: BuildConfig) -> dict:
    spec = config.windows
    sampled = spec.sampled_frames(window.start)
    motion = source.motion
    people = people_in_window(motion.valid, window.start, spec)
    fps = spec.clip_fps

    def video(slot: int) -> dict:
        return {
            "bytes": encode_mp4(np.stack([frames[int(f)][slot] for f in sampled]), fps, crf=config.crf),
            "path": None,
        }

    ids = [motion.person_ids[p] for p in people]
    row = {
        "clip_id": window.clip_id,
        "source_id": source.id,
        "start_frame": window.start,
        "fps": fps,
        "num_frames": spec.num_frames,
        "video": video(0),
        "avatar_video": video(1),
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
            "intrinsics": stream.intrinsics.tolist(),
            "extrinsics": motion.extrinsics[sampled].tolist(),
            "height": config.resolution,
            "width": config.resolution,
        },
    }
    if config.pose_video:
        row["pose_video"] = video(2)
    return row


def _stream_rows(
    source: Source, planned: list[_Planned], body, config: BuildConfig, counter: dict
) -> Iterator[tuple[str, dict]]:
    spec = config.windows
    stream = _FrameStream(source, body, config, counter)
    pending = deque(planned)
    buffer: dict[int, tuple] = {}
    needed = needed_frames([p.window.start for p in planned], spec)
    for index, real, avatar, pose in stream.frames(needed):
        buffer[index] = (real, avatar, pose)
        while pending and pending[0].window.start + spec.span - 1 <= index:
            item = pending.popleft()
            yield item.split, _row(source, item.window, buffer, stream, config)
        oldest = pending[0].window.start if pending else index + 1
        for frame in [f for f in buffer if f < oldest]:
            del buffer[frame]
    if pending:
        raise BuildError(f"video {source.spec.video} ended before window {pending[0].window.clip_id} was complete")


def describe_sources(sources: Sequence[Source]) -> str:
    return (
        f"{len(sources)} source video(s): "
        + ", ".join(f"`{s.id}` ({s.video.num_frames} frames, {s.video.width}x{s.video.height})" for s in sources)
        + "."
    )


def build_dataset(
    sources: Sequence[SourceSpec] | str | Path,
    out: str | Path,
    config: BuildConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    source_description: str | None = None,
) -> BuildReport:
    """Build the dataset folder ``out`` from a manifest (path) or a list of :class:`SourceSpec`.

    The folder is written under a temporary name and renamed when complete, so it is either
    absent or whole. It is exactly what :func:`amg_bench.publish` uploads.

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
        ManifestError, VideoError, MotionError, CaptionError, BuildError, BodyModelError: bad input.
    """
    from tqdm.auto import tqdm

    from .body_model import load_body_model

    config = config or BuildConfig()
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and not overwrite:
        from ..errors import OutputExistsError

        raise OutputExistsError(f"output {out} already exists; pass --overwrite to replace it")
    specs = load_manifest(sources) if isinstance(sources, (str, Path)) else list(sources)
    loaded = [load_source(spec, config.windows) for spec in specs]
    splits = plan_windows(loaded, config)
    body = load_body_model(config.body_model)
    for source in loaded:  # sources whose renders are all precomputed pose no body
        if not source.spec.avatar_video or (config.pose_video and not source.spec.pose_video):
            require_body_model(source.motion, body, str(source.spec.motion))
    rendered_pose = [s.id for s in loaded if config.pose_video and not s.spec.pose_video]
    pose_parts = body_face_parts(body) if rendered_pose else None  # fails here, before any frame, without them
    features = dataset_features(config.pose_video)
    split_of = {w: name for name, ws in splits.items() for w in ws}
    total = sum(len(ws) for ws in splits.values())
    counter: dict[str, int] = {}
    needed_total = 0
    with atomic_directory(out, overwrite=overwrite) as folder:
        writers = {name: SplitWriter(folder, name, features, config.max_shard_bytes) for name in splits}
        with tqdm(total=total, desc="building clips", unit="clip", disable=not progress) as bar:
            for source in loaded:
                planned = [_Planned(w, split_of[w]) for w in sorted(split_of) if w.source_id == source.id]
                if not planned:
                    continue
                needed_total += len(needed_frames([p.window.start for p in planned], config.windows))
                for split, row in _stream_rows(source, planned, body, config, counter):
                    writers[split].write(row)
                    bar.set_postfix_str(row["clip_id"], refresh=False)
                    bar.update()
        stats = [writers[name].close() for name in splits]
        fingerprint = content_fingerprint(stats)
        options = {**config.to_dict(), "body_model_kind": body.kind}
        write_text(
            folder / "README.md",
            render_card(
                folder,
                features,
                stats,
                options,
                fingerprint,
                {
                    "sources": source_description or describe_sources(loaded),
                    "render": _render_description(config, body),
                    "pose": _pose_description(loaded, rendered_pose, pose_parts),
                },
            ),
        )
        write_json(
            folder / BUILD_INFO,
            {
                "amg_bench_version": _version(),
                "options": options,
                "fingerprint": fingerprint,
                "splits": {s.name: {"num_examples": s.num_examples, "files": s.sha256} for s in stats},
                "sources": [
                    {"id": s.id, "frames": s.video.num_frames, "height": s.video.height, "width": s.video.width}
                    for s in loaded
                ],
            },
        )
    renders = counter.get("shaded", 0) if not any(s.avatar_video for s in specs) else 0
    return BuildReport(
        out, {s.name: s.num_examples for s in stats}, fingerprint, needed_total, renders, time.perf_counter() - started
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


def _render_description(config: BuildConfig, body) -> str:
    return (
        f"the `{body.kind}` body model (SMPL format) posed with each clip's parameters through "
        "`smplx`, rasterised from the clip's camera on black, Lambert-lit, one fixed colour per "
        "person; each source frame is rendered once and shared by every window that samples it. "
        "The paper renders HumanGaussian avatars instead; precomputed renders can replace these "
        "through the manifest's `avatar_video`."
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
