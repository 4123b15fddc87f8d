"""The two models behind the per-person metrics, through transformers, and a cache for real-frame keypoints.

- :class:`IdentityEmbedder`: DINOv2 (``AutoModel``, default ``facebook/dinov2-small``) with its own
  image processor; a crop's embedding is the model's pooled output (the CLS token after the final
  layer norm), L2-normalised.
- :class:`PoseEstimator`: a top-down keypoint detector (``VitPoseForPoseEstimation``, default
  ``usyd-community/vitpose-base-simple``, COCO-17 keypoints) given person boxes, so no person
  detector is needed: the boxes come from the re-rendered person masks.

A model is a local folder when one exists at that path, else a Hub repo read through the Hugging
Face cache (``HF_HOME`` / ``HF_HUB_CACHE``; ``HF_HUB_OFFLINE=1`` keeps it offline). A model that
is in neither raises :class:`~amg_bench.errors.MissingWeightsError` naming the download command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MetricError, MissingWeightsError

DEFAULT_IDENTITY_MODEL = "facebook/dinov2-small"
DEFAULT_POSE_MODEL = "usyd-community/vitpose-base-simple"
COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip


def _load(model_class, processor_class, model: str, what: str, device: str, dtype: str):
    """``(model, processor)`` from a local folder or the Hugging Face cache."""
    import torch
    from huggingface_hub import constants

    local = Path(model).expanduser()
    source = str(local) if local.is_dir() else model
    offline = {"local_files_only": bool(constants.HF_HUB_OFFLINE) and not local.is_dir()}
    try:
        processor = processor_class.from_pretrained(source, **offline)
        network = model_class.from_pretrained(source, dtype=getattr(torch, dtype), **offline)
    except OSError as exc:
        raise MissingWeightsError(
            f"the {what} model {model!r} is not available ({str(exc).splitlines()[0]}): download it once with "
            f"`hf download {model}` (into the Hugging Face cache, HF_HOME={constants.HF_HOME}), or pass a local "
            "folder that holds it"
        ) from exc
    except (ValueError, KeyError) as exc:
        raise MetricError(f"{model!r} cannot be loaded as the {what} model: {exc}") from exc
    return network.to(device).eval(), processor


def person_weights_available(model: str) -> bool:
    """Whether ``model`` is a local folder or in the Hugging Face cache (no network, no loading)."""
    from huggingface_hub import try_to_load_from_cache

    if Path(model).expanduser().is_dir():
        return True
    try:
        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except ValueError:  # not a repo id either
        return False


def _weights_id(model: str, network) -> dict[str, Any]:
    """What identifies the weights in caches and results: the name, and a local folder's files by size and time."""
    local = Path(model).expanduser()
    files = sorted(p for p in local.iterdir() if p.is_file()) if local.is_dir() else []
    return {
        "model": model,
        "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files],
        "commit": getattr(network.config, "_commit_hash", None),
    }


class IdentityEmbedder:
    """DINOv2 embeddings of person crops.

    Raises:
        MissingWeightsError: the model is not on this machine (the message says how to get it).
        MetricError: the checkpoint is not an image model with a pooled output.
    """

    def __init__(
        self, model: str = DEFAULT_IDENTITY_MODEL, device: str = "cpu", dtype: str = "float32", batch_size: int = 32
    ) -> None:
        from transformers import AutoImageProcessor, AutoModel

        self.model_name, self.device, self.dtype, self.batch_size = model, str(device), dtype, batch_size
        self.network, self.processor = _load(
            AutoModel, AutoImageProcessor, model, "identity (DINOv2)", self.device, dtype
        )

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """float32 ``(N, D)`` L2-normalised embeddings of uint8 ``(h, w, 3)`` crops."""
        import torch

        out = []
        for start in range(0, len(crops), self.batch_size):
            inputs = self.processor(images=list(crops[start : start + self.batch_size]), return_tensors="pt")
            pixels = inputs["pixel_values"].to(self.device, getattr(torch, self.dtype))
            with torch.inference_mode():
                pooled = self.network(pixel_values=pixels).pooler_output
            out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def config(self) -> dict[str, Any]:
        return {
            **_weights_id(self.model_name, self.network),
            "embedding": "pooled output (CLS after layer norm)",
            "dtype": self.dtype,
        }


class PoseEstimator:
    """COCO-17 keypoints of people in given boxes (VitPose).

    Raises:
        MissingWeightsError: the model is not on this machine (the message says how to get it).
        MetricError: the checkpoint is not a VitPose model.
    """

    def __init__(
        self, model: str = DEFAULT_POSE_MODEL, device: str = "cpu", dtype: str = "float32", batch_size: int = 32
    ) -> None:
        from transformers import AutoProcessor, VitPoseForPoseEstimation

        self.model_name, self.device, self.dtype, self.batch_size = model, str(device), dtype, batch_size
        self.network, self.processor = _load(
            VitPoseForPoseEstimation, AutoProcessor, model, "pose (VitPose)", self.device, dtype
        )

    def keypoints(self, frames: np.ndarray, boxes: np.ndarray) -> dict[str, np.ndarray]:
        """Keypoints of every person box of every frame.

        Args:
            frames: uint8 ``(T, H, W, 3)``.
            boxes: float ``(P, T, 4)`` ``(u0, v0, u1, v1)`` inclusive pixel boxes, NaN where a person is not seen.

        Returns:
            ``{"xy": float32 (P, T, 17, 2), "score": float32 (P, T, 17)}``; NaN / 0 where there is no box.
        """
        import torch

        people, frames_count = boxes.shape[:2]
        xy = np.full((people, frames_count, len(COCO_KEYPOINTS), 2), np.nan, np.float32)
        score = np.zeros((people, frames_count, len(COCO_KEYPOINTS)), np.float32)
        jobs = [(p, t) for t in range(frames_count) for p in range(people) if not np.isnan(boxes[p, t]).any()]
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start : start + self.batch_size]
            coco = [[[float(b[0]), float(b[1]), float(b[2] - b[0] + 1), float(b[3] - b[1] + 1)]]
                    for b in (boxes[p, t] for p, t in batch)]  # fmt: skip
            inputs = self.processor(images=[frames[t] for _, t in batch], boxes=coco, return_tensors="pt")
            pixels = inputs["pixel_values"].to(self.device, getattr(torch, self.dtype))
            with torch.inference_mode():
                outputs = self.network(pixel_values=pixels)
            outputs.heatmaps = outputs.heatmaps.float().cpu()
            results = self.processor.post_process_pose_estimation(outputs, boxes=coco)
            for (p, t), result in zip(batch, results):
                xy[p, t] = result[0]["keypoints"].numpy()
                score[p, t] = result[0]["scores"].numpy()
        return {"xy": xy, "score": score}

    def config(self) -> dict[str, Any]:
        return {
            **_weights_id(self.model_name, self.network),
            "keypoints": "COCO-17",
            "boxes": "person masks",
            "dtype": self.dtype,
        }


class CachingPoseEstimator:
    """:meth:`PoseEstimator.keypoints` of real frames in the content cache, keyed by the frames and boxes."""

    def __init__(self, estimator: PoseEstimator, root=None) -> None:
        from ..cache import NPZ, ContentCache

        self.estimator = estimator
        self.cache = ContentCache("reference_keypoints", estimator.config(), NPZ, root)

    def keypoints(self, frames: np.ndarray, boxes: np.ndarray) -> dict[str, np.ndarray]:
        from ..cache import content_digest

        key = content_digest(np.ascontiguousarray(frames), np.ascontiguousarray(boxes, np.float32))
        return self.cache.get_or_compute(key, lambda: self.estimator.keypoints(frames, boxes))
