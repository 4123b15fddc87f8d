"""Procedural people for the built-in demo source: motion, camera and captions from a seed.

Pure numpy. Each scene is a short script - people walk along waypoints, meet, shake hands, wave,
one walks out of the picture and comes back - turned into SMPL-format parameters (axis-angle
joint rotations of the SMPL kinematic tree, per-person betas, ``transl``) with a gait driven by
the distance walked. A person counts as tracked only while their pelvis projects inside the
image, as a real tracker loses a subject who leaves the frame; this is what exercises the
lost-subject window filter. The camera is static, in the TRACE convention (f = 548·max(H, W)/512,
principal point at the centre, OpenCV axes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .captions import Captions
from .motion import Motion

# SMPL joint indices used by the script (body_pose holds joints 1..23, three values each).
L_HIP, R_HIP, L_KNEE, R_KNEE, SPINE2, NECK = 1, 2, 4, 5, 6, 12
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 16, 17, 18, 19

STRIDE_M = 1.4
SOURCE_HEIGHT, SOURCE_WIDTH = 288, 384


@dataclass(frozen=True)
class Leg:
    """One part of a person's script: walk to ``target`` (x, z) by ``until``, doing ``action``."""

    until: int
    target: tuple[float, float]
    action: str = "walk"  # walk | stand | handshake | wave


@dataclass(frozen=True)
class PersonScript:
    name: str
    start: tuple[float, float]
    legs: tuple[Leg, ...]
    shirt: str
    trousers: str


@dataclass(frozen=True)
class SceneScript:
    id: str
    num_frames: int
    setting: str
    atmosphere: str
    people: tuple[PersonScript, ...]
    phases: tuple[tuple[int, str], ...]  # (first frame, what happens), ascending


SCENES = (
    SceneScript(
        id="demo_courtyard",
        num_frames=300,
        setting="a sunlit stone courtyard with a pale sky",
        atmosphere="calm and friendly",
        people=(
            PersonScript(
                "person0",
                (-2.6, 1.5),
                (
                    Leg(90, (-0.45, 1.2)),
                    Leg(140, (-0.45, 1.2), "handshake"),
                    Leg(200, (4.8, 1.0)),
                    Leg(215, (4.8, 1.0), "stand"),
                    Leg(299, (1.6, 1.4)),
                ),
                shirt="red",
                trousers="dark blue",
            ),
            PersonScript(
                "person1",
                (2.4, 1.0),
                (
                    Leg(90, (0.45, 1.2)),
                    Leg(140, (0.45, 1.2), "handshake"),
                    Leg(200, (0.45, 1.2), "wave"),
                    Leg(299, (-1.4, 0.4)),
                ),
                shirt="green",
                trousers="grey",
            ),
        ),
        phases=(
            (0, "two people walk towards each other"),
            (90, "two people shake hands"),
            (140, "one person walks away to the right while the other waves goodbye"),
            (200, "one person is alone, waving"),
            (215, "one person comes back and the two people walk past each other"),
        ),
    ),
    SceneScript(
        id="demo_plaza",
        num_frames=240,
        setting="an open plaza with a tiled floor under a clear sky",
        atmosphere="relaxed",
        people=(
            PersonScript(
                "person0", (-2.0, 2.5), (Leg(120, (2.0, 0.0)), Leg(239, (-1.5, -0.5))), shirt="yellow", trousers="black"
            ),
            PersonScript(
                "person1",
                (2.0, 2.5),
                (Leg(110, (-1.8, 0.5)), Leg(170, (-1.8, 0.5), "wave"), Leg(239, (0.5, 2.0))),
                shirt="blue",
                trousers="khaki",
            ),
            PersonScript(
                "person2",
                (0.0, -0.5),
                (Leg(80, (0.0, -0.5), "stand"), Leg(239, (1.5, 3.0))),
                shirt="purple",
                trousers="white",
            ),
        ),
        phases=(
            (0, "three people cross a plaza on diagonal paths"),
            (110, "a person waves at a friend while others keep walking"),
            (170, "three people walk off in different directions"),
        ),
    ),
)


def rotation_y(yaw: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (N, 3) for rotations about +y."""
    yaw = np.asarray(yaw, dtype=np.float64)
    return np.stack([np.zeros_like(yaw), yaw, np.zeros_like(yaw)], axis=-1)


def camera(height: int = SOURCE_HEIGHT, width: int = SOURCE_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics (TRACE convention) and the world-to-camera matrix of the static demo camera.

    World: y up, people walk on y = 0, facing +z at yaw 0. The camera stands at (0, 1.1, -6.5)
    looking along +z, so world x points to the image's left.
    """
    focal = 548.0 * max(height, width) / 512.0
    intrinsics = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float32)
    rotation = np.diag([-1.0, -1.0, 1.0])
    centre = np.array([0.0, 1.1, -6.5])
    extrinsic = np.eye(4)
    extrinsic[:3, :3] = rotation
    extrinsic[:3, 3] = -rotation @ centre
    return intrinsics, extrinsic.astype(np.float32)


def _trajectory(person: PersonScript, num_frames: int) -> tuple[np.ndarray, list[str]]:
    """Ground positions (F, 2) and the action of every frame."""
    positions = np.zeros((num_frames, 2))
    actions = ["stand"] * num_frames
    frame, here = 0, np.array(person.start, dtype=np.float64)
    for leg in person.legs:
        end = min(leg.until, num_frames - 1)
        count = end - frame + 1
        if count <= 0:
            continue
        t = np.linspace(0.0, 1.0, count)[:, None]
        ease = t * t * (3 - 2 * t) if leg.action != "walk" else t
        positions[frame : end + 1] = here + (np.asarray(leg.target) - here) * ease
        actions[frame : end + 1] = [leg.action] * count
        frame, here = end + 1, np.asarray(leg.target, dtype=np.float64)
    positions[frame:] = here
    return positions, actions


def _pose(positions: np.ndarray, actions: list[str], partners: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Root orientation (F, 3) and body pose (F, 69) for a walked path and its actions."""
    num_frames = len(positions)
    velocity = np.gradient(positions, axis=0)
    speed = np.linalg.norm(velocity, axis=1)
    phase = 2 * np.pi * np.cumsum(speed) / STRIDE_M
    to_partner = partners - positions
    moving = speed > 1e-4
    yaw = np.where(moving, np.arctan2(velocity[:, 0], velocity[:, 1]), np.arctan2(to_partner[:, 0], to_partner[:, 1]))
    yaw = np.unwrap(yaw)
    pose = np.zeros((num_frames, 23, 3))
    swing = 0.55 * np.sin(phase) * np.clip(speed * fps / 1.2, 0, 1)
    pose[:, L_HIP - 1, 0] = -swing
    pose[:, R_HIP - 1, 0] = swing
    pose[:, L_KNEE - 1, 0] = 0.15 + 0.6 * np.clip(np.sin(phase + np.pi / 2), 0, 1) * np.clip(speed * fps, 0, 1)
    pose[:, R_KNEE - 1, 0] = 0.15 + 0.6 * np.clip(-np.sin(phase + np.pi / 2), 0, 1) * np.clip(speed * fps, 0, 1)
    pose[:, L_SHOULDER - 1, 2] = -1.25
    pose[:, R_SHOULDER - 1, 2] = 1.25
    pose[:, L_SHOULDER - 1, 1] = 0.5 * swing
    pose[:, R_SHOULDER - 1, 1] = 0.5 * swing
    pose[:, L_ELBOW - 1, 1] = 0.2
    pose[:, R_ELBOW - 1, 1] = -0.2
    t = np.arange(num_frames) / fps
    for index, action in enumerate(actions):
        if action == "handshake":
            pose[index, R_SHOULDER - 1] = (0.0, 1.2, 0.45)
            pose[index, R_ELBOW - 1] = (0.0, -0.3 - 0.15 * np.sin(2 * np.pi * 2 * t[index]), 0.0)
            pose[index, SPINE2 - 1, 0] = 0.12
        elif action == "wave":
            pose[index, R_SHOULDER - 1] = (0.0, 0.0, -1.2)
            pose[index, R_ELBOW - 1] = (0.0, 0.0, -0.5 + 0.45 * np.sin(2 * np.pi * 1.5 * t[index]))
        if action != "walk":
            pose[index, NECK - 1, 1] = 0.15 * np.sin(2 * np.pi * 0.3 * t[index])
    return rotation_y(yaw), pose.reshape(num_frames, 69)


def scene_motion(scene: SceneScript, seed: int, foot_height, fps: float = 24.0) -> tuple[Motion, Captions]:
    """Motion, cameras and captions of one demo scene.

    Args:
        foot_height: callable ``betas (10,) -> float``, the height of the model's soles above its
            origin in the rest pose (negative); ``transl`` lifts each person so the soles touch y = 0.
    """
    rng = np.random.default_rng([seed, sum(map(ord, scene.id))])
    people = len(scene.people)
    num_frames = scene.num_frames
    paths = [_trajectory(p, num_frames) for p in scene.people]
    centre = np.mean([path for path, _ in paths], axis=0)
    intrinsics, extrinsic = camera()
    betas = np.zeros((people, 10), dtype=np.float32)
    betas[:, :2] = rng.normal(0.0, 0.8, size=(people, 2))
    global_orient = np.zeros((people, num_frames, 3))
    body_pose = np.zeros((people, num_frames, 69))
    transl = np.zeros((people, num_frames, 3))
    for index, (path, actions) in enumerate(paths):
        others = (centre * people - path) / max(people - 1, 1)
        global_orient[index], body_pose[index] = _pose(path, actions, others, fps)
        lift = -float(foot_height(betas[index]))
        transl[index] = np.stack([path[:, 0], np.full(num_frames, lift), path[:, 1]], axis=1)
    pelvis_cam = (transl @ extrinsic[:3, :3].T) + extrinsic[:3, 3]
    pixels = pelvis_cam[..., :2] / pelvis_cam[..., 2:3] * intrinsics[[0, 1], [0, 1]] + intrinsics[:2, 2]
    margin = 8
    valid = (
        (pelvis_cam[..., 2] > 0.5)
        & (pixels[..., 0] >= margin)
        & (pixels[..., 0] < SOURCE_WIDTH - margin)
        & (pixels[..., 1] >= margin)
        & (pixels[..., 1] < SOURCE_HEIGHT - margin)
    )
    motion = Motion(
        global_orient=global_orient,
        body_pose=body_pose,
        betas=betas,
        transl=transl,
        valid=valid,
        intrinsics=intrinsics,
        extrinsics=np.repeat(extrinsic[None], num_frames, axis=0),
        image_size=(SOURCE_HEIGHT, SOURCE_WIDTH),
        fps=fps,
        person_ids=[p.name for p in scene.people],
        body_model="mannequin",
    )
    return motion, scene_captions(scene, valid)


def scene_captions(scene: SceneScript, valid: np.ndarray) -> Captions:
    """A scene caption for every frame (what happens, who is visible) and one per person."""
    frames = {}
    starts = [start for start, _ in scene.phases]
    for frame in range(scene.num_frames):
        phase = scene.phases[int(np.searchsorted(starts, frame, side="right")) - 1][1]
        visible = int(valid[:, frame].sum())
        frames[frame] = (
            f"In {scene.setting}, {phase}; {visible} {'person is' if visible == 1 else 'people are'} "
            f"in view. The atmosphere is {scene.atmosphere}."
        )
    appearance = {
        p.name: f"A slim mannequin-like person wearing a {p.shirt} long-sleeved shirt, {p.trousers} trousers "
        "and dark shoes."
        for p in scene.people
    }
    return Captions(scene_frames=frames, appearance=appearance)


GARMENTS = {
    "red": (200, 40, 40),
    "dark blue": (30, 40, 110),
    "green": (40, 150, 60),
    "grey": (120, 120, 125),
    "yellow": (220, 190, 40),
    "black": (25, 25, 28),
    "blue": (50, 90, 200),
    "khaki": (170, 150, 100),
    "purple": (120, 50, 150),
    "white": (225, 225, 220),
}
SKIN, SHOES = (224, 180, 150), (40, 30, 25)
# SMPL joints grouped by what covers them: 0 skin, 1 shirt, 2 trousers, 3 shoes.
_COVER = np.array([2, 2, 2, 1, 2, 2, 1, 3, 3, 1, 3, 3, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0])


def clothing_colors(person: PersonScript, part_labels: np.ndarray) -> np.ndarray:
    """Per-vertex RGB (V, 3) in [0, 1] of a person's clothes, from the vertices' body parts."""
    palette = np.array([SKIN, GARMENTS[person.shirt], GARMENTS[person.trousers], SHOES], dtype=np.float32) / 255
    return palette[_COVER[np.asarray(part_labels)]]
