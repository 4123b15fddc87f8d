"""Training of built-in methods on the benchmark dataset (``amg-bench train <method>``).

- :mod:`.amg`: LoRA fine-tuning of AMG with ``accelerate`` (the release's recipe);
- :mod:`.latent_cache`: VAE latents and text embeddings of each clip, computed once;
- :mod:`.data`: dataset rows -> clip sources.
"""
