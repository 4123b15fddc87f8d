"""DMT (Yatim et al., "Space-Time Diffusion Features for Zero-Shot Text-Driven Motion Transfer", CVPR 2024) on diffusers.

- :mod:`.method`: the ``dmt`` method (``generate()``), options from ``baselines/dmt.yaml``;
- :mod:`.pipeline`: ``DMTPipeline`` (inversion, initial latent, guided sampling with restarts);
- :mod:`.inversion`: DDIM inversion keeping only the latents the sampler reads;
- :mod:`.features`: the up-block-1 feature hooks and the forward that stops after that block;
- :mod:`.loss`: the SMM difference loss (pure torch);
- :mod:`.latents`: re-expression, frequency mix and restart re-noising (tensor maths);
- :mod:`.schedule`: guided steps and learning rates (pure);
- :mod:`.components`: the ZeroScope base, its scheduler, the release's input resize.

Importing this package does not import torch; the pipeline modules do.
"""

from .method import DMT, DMTOptions

__all__ = ["DMT", "DMTOptions"]
