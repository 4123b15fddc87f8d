"""AMG (Yang et al., arXiv 2409.01502) in diffusers + peft.

- :mod:`.method`: the ``amg`` method (``generate()``), options from ``baselines/amg.yaml``;
- :mod:`.pipeline`: ``AMGPipeline`` (sampling, ``save_pretrained`` / ``from_pretrained``);
- :mod:`.unet`: the 8-channel ``conv_in`` and the LoRA layers;
- :mod:`.components`: the ModelScope base components and the release's DDIM settings;
- :mod:`.keys` / :mod:`.convert`: the released VGen-format checkpoint -> pipeline folder;

Importing this package does not import torch; the pipeline modules do.
"""

from .method import AMG, AMGOptions

__all__ = ["AMG", "AMGOptions"]
