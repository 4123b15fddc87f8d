"""Tiny inputs for the evaluation tests: a built dataset folder and a random open_clip model.

The dataset goes through the real writer (``SplitWriter`` with the real ``dataset_features``),
so ``load_dataset(folder)`` reads it exactly like a built one. Clips are textured noise moving
along a per-clip curved path, so a point tracker has something to follow and different clips
have different motion.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def moving_texture(seed: int, num_frames: int = 16, size: int = 64, speed: float = 1.5) -> np.ndarray:
    """uint8 ``(T, size, size, 3)``: a smooth random texture translated along a curved path."""
    import cv2

    rng = np.random.default_rng(seed)
    big = 2 * size
    texture = rng.integers(0, 256, size=(big // 4, big // 4, 3), dtype=np.uint8)
    texture = cv2.resize(texture, (big, big), interpolation=cv2.INTER_CUBIC)
    angle0, turn = rng.uniform(0, 2 * np.pi), rng.uniform(-0.4, 0.4)
    frames, x, y = [], 0.0, 0.0
    for t in range(num_frames):
        angle = angle0 + turn * t
        x, y = x + speed * np.cos(angle), y + speed * np.sin(angle)
        shift = np.float32([[1, 0, x - size / 2], [0, 1, y - size / 2]])
        moved = cv2.warpAffine(texture, shift, (big, big), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames.append(moved[size // 2 : size // 2 + size, size // 2 : size // 2 + size])
    return np.ascontiguousarray(np.stack(frames))


CAPTIONS = (
    "a person walks across a sunny park",
    "two people dance in a small room",
    "a man jogs along the beach at dusk",
    "a woman waves at the camera in a busy street",
    "a child jumps on a trampoline",
    "a dancer spins on a wooden stage",
)


def write_tiny_dataset(
    folder: str | Path,
    num_clips: int = 4,
    size: int = 64,
    num_frames: int = 16,
    split: str = "test",
    fingerprint: str | None = "tinyfingerprint0",
    captions: tuple[str, ...] | list[str] = CAPTIONS,
    pose_video: bool = False,
    palettes: np.ndarray | None = None,
) -> Path:
    """Write ``num_clips`` clips into ``folder`` (``data/<split>-*.parquet`` + ``amg_bench_build.json``).

    With ``pose_video`` the clips also get that column (the avatar's texture, brighter); with
    ``palettes`` (uint8 ``(num_clips, 24, 3)``), clip ``i``'s one person has the look ``palettes[i]``.
    """
    from amg_bench.data.writer import SplitWriter, dataset_features
    from amg_bench.video import encode_mp4

    folder = Path(folder)
    writer = SplitWriter(folder, split, dataset_features(pose_video))
    eye = np.eye(4, dtype=np.float32).tolist()
    for i in range(num_clips):
        real = moving_texture(100 + i, num_frames, size)
        avatar = moving_texture(100 + i, num_frames, size) // 2  # same motion, darker look
        extra = {"pose_video": {"bytes": encode_mp4(avatar * 2, 8.0), "path": None}} if pose_video else {}
        writer.write(
            {
                **extra,
                "clip_id": f"src{i % 2}_{i * 7:06d}",
                "source_id": f"src{i % 2}",
                "start_frame": i * 7,
                "fps": 8.0,
                "num_frames": num_frames,
                "video": {"bytes": encode_mp4(real, 8.0), "path": None},
                "avatar_video": {"bytes": encode_mp4(avatar, 8.0), "path": None},
                "scene_caption": captions[i % len(captions)],
                "appearance_colors": None if palettes is None else [np.asarray(palettes[i]).tolist()],
                "appearance_captions": ["a person in a red shirt"],
                "num_people": 1,
                "person_ids": ["p0"],
                "body_model": "mannequin",
                "smpl": [
                    {
                        "global_orient": [[np.pi, 0.0, 0.0]] * num_frames,  # upright in OpenCV axes (y down)
                        "body_pose": [[0.0] * 69] * num_frames,
                        "betas": [0.0] * 10,
                        "transl": [[0.0, 0.0, 2.5]] * num_frames,
                    }
                ],
                "camera": {  # the person about 0.7 of the frame tall, in its centre
                    "intrinsics": [[size, 0.0, size / 2 - 0.5], [0.0, size, size / 2 - 0.5], [0.0, 0.0, 1.0]],
                    "extrinsics": [eye] * num_frames,
                    "height": size,
                    "width": size,
                },
            }
        )
    writer.close()
    if fingerprint:
        (folder / "amg_bench_build.json").write_text(json.dumps({"fingerprint": fingerprint}))
    return folder


def save_tiny_clip(folder: str | Path, seed: int = 4) -> str:
    """Save a random tiny open_clip model laid out like a Hub repo; returns ``local-dir:<folder>``.

    Seed 4 gives positive, different scores on :func:`moving_texture` clips and :data:`CAPTIONS`.
    """
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**model_cfg)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(
        json.dumps(
            {
                "model_cfg": model_cfg,
                "preprocess_cfg": {
                    "mean": [0.48145466, 0.4578275, 0.40821073],
                    "std": [0.26862954, 0.26130258, 0.27577711],
                },
            }
        )
    )
    return f"local-dir:{folder}"


# ---- methods for the runner tests (reached as ``datasets_for_tests:<Class>``) ----------------

from dataclasses import dataclass  # noqa: E402

from amg_bench.methods.base import Method  # noqa: E402


@dataclass
class BadOutputOptions:
    bad_clip: str
    mode: str


class BadOutput(Method):
    """The real clip, except for ``bad_clip``, which gets a malformed output of kind ``mode``."""

    name = "bad-output"
    requires = frozenset({"video"})
    Options = BadOutputOptions

    def generate(self, request):
        video = request.video
        if request.clip_id != self.options.bad_clip:
            return video
        if self.options.mode == "frames":
            return video[:-1]
        if self.options.mode == "size":
            return np.ascontiguousarray(video[:, :-2])
        if self.options.mode == "dtype":
            return video.astype(np.float32) / 255.0
        if self.options.mode == "channels":
            return np.concatenate([video, video[..., :1]], axis=-1)
        if self.options.mode == "list":
            return list(video)
        if self.options.mode == "raises":
            raise RuntimeError("out of memory while denoising")
        raise ValueError(f"unknown mode {self.options.mode}")


class KillAt(Method):
    """The real clip, published as the dataset stores it; when ``$AMG_TEST_KILL_AT`` names the clip,
    the process SIGKILLs itself first."""

    name = "kill-at"
    requires = frozenset({"video"})

    def published(self, request):
        import os
        import signal

        if os.environ.get("AMG_TEST_KILL_AT") == request.clip_id:
            os.kill(os.getpid(), signal.SIGKILL)
        return request.encoded["video"]

    def generate(self, request):
        return request.video


def cell_frames(cell) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` of a dataset video cell: datasets' decoder (``decode=True``) or embedded bytes."""
    from amg_bench.data.hub import video_cell_bytes
    from amg_bench.video import read_video

    if hasattr(cell, "get_frames_in_range"):
        batch = cell.get_frames_in_range(0, cell.metadata.num_frames).data
        return np.ascontiguousarray(batch.permute(0, 2, 3, 1).numpy())
    return read_video(video_cell_bytes(cell, "test cell"))
