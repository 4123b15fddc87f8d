"""MagicAnimate (Xu et al., CVPR 2024) on diffusers: a reference image animated by a DensePose video.

- :mod:`.method`: the ``magicanimate`` method (``generate()``), options from ``baselines/magicanimate.yaml``;
- :mod:`.pipeline`: ``MagicAnimatePipeline`` (sampling, ``save_pretrained`` / ``from_pretrained``);
- :mod:`.appearance_encoder` / :mod:`.reference_attention`: the appearance encoder and the
  reference attention it feeds, as diffusers attention processors;
- :mod:`.motion_unet`: SD 1.5 + AnimateDiff v1 motion modules as ``UNetMotionModel``, with the
  release's group norms;
- :mod:`.windows`: the sliding-window schedule (pure);
- :mod:`.components`: weights locations and the release's DDIM settings;
- :mod:`.keys` / :mod:`.convert`: the release's checkpoints -> pipeline folder.

Importing this package does not import torch; the pipeline modules do.
"""

from .method import MagicAnimate, MagicAnimateOptions

__all__ = ["MagicAnimate", "MagicAnimateOptions"]
