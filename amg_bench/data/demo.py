"""The built-in demo source: procedurally animated people filmed over a procedural background.

It makes the whole pipeline run offline on a fresh machine. For each scene of
:mod:`amg_bench.data.demo_motion` it writes what a researcher would bring from a real film - a
24 fps video, a motion file in the package's format and a captions file - plus a manifest, and
then builds the dataset through exactly the same code path as real sources.

The "real" video shows the mannequins dressed (per-part clothing colours, lit) over a ground
plane and sky; the avatar condition later renders the same bodies on black with one colour per
person, so the two differ as a film and its avatar render do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..files import write_text
from ..video import write_video
from .body_model import load_body_model
from .builder import BuildConfig, BuildReport, build_dataset
from .captions import Captions, save_captions
from .demo_motion import SCENES, SOURCE_HEIGHT, SOURCE_WIDTH, SceneScript, camera, clothing_colors, scene_motion
from .motion import Motion, save_motion
from .render import Camera, render_people
from .windows import WindowSpec, proportional_train_size, valid_starts

DEMO_DESCRIPTION = (
    "the built-in procedural demo of amg-bench: mannequin people (a licence-free SMPL-format body "
    "model) walking, meeting, shaking hands and waving over a procedural courtyard / plaza, one of "
    "them leaving the picture and coming back; rendered as 24 fps 384x288 videos with their exact "
    "motion, camera and captions. No real person is shown."
)


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse random grid bilinearly upsampled."""
    import cv2

    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def background(seed: int, scene: SceneScript, height: int = SOURCE_HEIGHT, width: int = SOURCE_WIDTH) -> np.ndarray:
    """A sky gradient over a tiled ground plane seen from the demo camera, uint8 ``(H, W, 3)``."""
    rng = np.random.default_rng([seed, 7, sum(map(ord, scene.id))])
    intrinsics, extrinsic = camera(height, width)
    rotation, centre = extrinsic[:3, :3], -extrinsic[:3, :3].T @ extrinsic[:3, 3]
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = (
        np.stack(
            [(u - intrinsics[0, 2]) / intrinsics[0, 0], (v - intrinsics[1, 2]) / intrinsics[1, 1], np.ones_like(u)],
            axis=-1,
        )
        @ rotation
    )  # camera -> world directions (R^T d)
    down = rays[..., 1] < -1e-6
    t = np.where(down, -centre[1] / np.where(down, rays[..., 1], -1), 0)
    ground_x, ground_z = centre[0] + t * rays[..., 0], centre[2] + t * rays[..., 2]
    tile = 0.6 if scene.id.endswith("plaza") else 0.9
    checker = (np.floor(ground_x / tile) + np.floor(ground_z / tile)) % 2
    grain = _value_noise(rng, height, width, 48)
    base = np.array([150, 135, 115]) if "courtyard" in scene.id else np.array([120, 125, 135])
    ground = base * (0.82 + 0.18 * checker[..., None]) * (0.8 + 0.4 * grain[..., None])
    fog = np.clip(t / 40.0, 0, 1)[..., None]
    horizon = np.array([200, 210, 220])
    ground = ground * (1 - fog) + horizon * fog
    clouds = _value_noise(rng, height, width, 6)
    sky_top, sky_low = np.array([90, 140, 210]), horizon
    height_share = np.clip(rays[..., 1] / 0.4, 0, 1)[..., None]
    sky = sky_low * (1 - height_share) + sky_top * height_share
    sky = sky * (1 - 0.35 * clouds[..., None]) + 255 * 0.35 * clouds[..., None]
    image = np.where(down[..., None], ground, sky)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _frames(scene: SceneScript, motion: Motion, body, seed: int) -> Iterator[np.ndarray]:
    """The scene's "real" frames: every person dressed and lit over the background."""
    backdrop = background(seed, scene)
    colors = [clothing_colors(person, body.part_labels) for person in scene.people]
    people = list(range(motion.num_people))
    for frame in range(motion.num_frames):
        vertices, _ = body.forward(
            motion.global_orient[:, frame], motion.body_pose[:, frame], motion.betas, motion.transl[:, frame]
        )
        view = Camera(motion.intrinsics, motion.extrinsics[frame], SOURCE_HEIGHT, SOURCE_WIDTH)
        yield render_people(
            list(vertices), body.faces, view, people, mode="shaded", vertex_colors=colors, background=backdrop
        )


def demo_motions(
    seed: int = 0, body=None, scenes: Sequence[SceneScript] = SCENES
) -> list[tuple[SceneScript, Motion, Captions]]:
    """Motion and captions of every demo scene, people standing on the ground plane."""
    body = body or load_body_model("mannequin")

    def sole_height(betas: np.ndarray) -> float:
        vertices, _ = body.forward(np.zeros((1, 3)), np.zeros((1, 69)), betas[None], np.zeros((1, 3)))
        return float(vertices[0, :, 1].min())

    return [(scene, *scene_motion(scene, seed, sole_height)) for scene in scenes]


def write_demo_sources(folder: str | Path, seed: int = 0, scenes: Sequence[SceneScript] = SCENES) -> Path:
    """Write every demo scene's video, motion and captions into ``folder``; return the manifest.

    Deterministic: the same seed gives the same motion, captions and frames.
    """
    import yaml

    folder = Path(folder)
    body = load_body_model("mannequin")
    entries = []
    for scene, motion, captions in demo_motions(seed, body, scenes):
        save_motion(folder / f"{scene.id}.npz", motion)
        save_captions(folder / f"{scene.id}.json", captions)
        write_video(folder / f"{scene.id}.mp4", _frames(scene, motion, body, seed), fps=motion.fps)
        entries.append(
            {"id": scene.id, "video": f"{scene.id}.mp4", "motion": f"{scene.id}.npz", "captions": f"{scene.id}.json"}
        )
    manifest = folder / "manifest.yaml"
    write_text(manifest, yaml.safe_dump({"sources": entries}, sort_keys=False))
    return manifest


def demo_window_count(seed: int = 0, spec: WindowSpec = WindowSpec()) -> int:
    """Valid windows the demo yields, from its motion alone (no rendering)."""
    return sum(len(valid_starts(motion.valid, motion.num_frames, spec)) for _, motion, _ in demo_motions(seed))


def build_demo_dataset(
    out: str | Path,
    seed: int = 0,
    train_size: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    num_proc: int = 1,
    shard: tuple[int, int] | str | None = None,
    **options,
) -> BuildReport:
    """Build the demo dataset into ``out`` (a few hundred clips, the paper's 5,500:288 split ratio).

    The demo's source files are written into the build's work folder (``.OUT.build``), so a
    killed demo build resumes like any other and the work folder goes when the build is done.
    ``options`` are further :class:`BuildConfig` fields (``split_gap``, ``pose_video``, ...).

    Raises:
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
    """
    import shutil

    from ..errors import OutputExistsError
    from .workdir import BuildWork

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output {out} already exists; pass --overwrite to replace it")
    spec = options.get("windows", WindowSpec())
    if train_size is None:
        train_size = proportional_train_size(demo_window_count(seed, spec))
    options.setdefault("license", "cc0-1.0")
    options.setdefault("pretty_name", "AMG avatar-motion demo clips (procedural)")
    config = BuildConfig(train_size=train_size, **options)
    sources = BuildWork(out).root / f"demo-sources-seed{seed}"
    manifest = sources / "manifest.yaml"  # written last: its presence means every source file is complete
    if overwrite or not manifest.is_file():
        shutil.rmtree(sources, ignore_errors=True)
        write_demo_sources(sources, seed)
    return build_dataset(
        manifest,
        out,
        config,
        overwrite=overwrite,
        progress=progress,
        source_description=DEMO_DESCRIPTION,
        num_proc=num_proc,
        shard=shard,
    )
