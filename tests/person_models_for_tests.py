"""Tiny random DINOv2 and VitPose checkpoints saved in the Hub folder layout (config, weights, processor)."""

from __future__ import annotations

from pathlib import Path


def save_tiny_dinov2(folder: str | Path, seed: int = 0) -> str:
    """A 1-layer DINOv2 (``facebook/dinov2-small`` layout: ``Dinov2Model`` + ``BitImageProcessor``); returns the folder."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                          image_size=32, patch_size=8)  # fmt: skip
    Dinov2Model(config).eval().save_pretrained(folder)
    BitImageProcessor(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        do_convert_rgb=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return str(folder)


def save_tiny_vitpose(folder: str | Path, seed: int = 0) -> str:
    """A 1-layer VitPose (``usyd-community/vitpose-base-simple`` layout, 17 COCO keypoints); returns the folder."""
    import torch
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    torch.manual_seed(seed)
    backbone = VitPoseBackboneConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                     image_size=[64, 48], patch_size=[16, 16], out_features=["stage1"])  # fmt: skip
    VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=17)).eval().save_pretrained(folder)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(folder)
    return str(folder)
