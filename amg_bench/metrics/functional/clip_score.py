"""CLIP score on embeddings: the maths only (no model, no images).

Definition (the usual CLIP score of Hessel et al., as in torchmetrics):
per frame ``100 * max(cos(image_embedding, text_embedding), 0)``; a clip's score is the mean over
its frames. Embeddings are compared after L2 normalisation, in at least float32.
"""

from __future__ import annotations

import torch

from ...errors import MetricError


def clip_score_from_embeddings(image_embeds: torch.Tensor, text_embed: torch.Tensor) -> torch.Tensor:
    """Per-frame CLIP score ``100 * max(cos(image_t, text), 0)``.

    Args:
        image_embeds: ``(T, D)`` image embeddings, one per frame (any float dtype, unnormalised).
        text_embed: ``(D,)`` embedding of the caption.

    Returns:
        ``(T,)`` tensor in [0, 100], float32 (float64 if an input is float64). A zero embedding
        gives 0.

    Raises:
        MetricError: wrong ranks or different embedding widths.

    >>> images = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [3.0, 4.0]])
    >>> [round(s, 4) for s in clip_score_from_embeddings(images, torch.tensor([2.0, 0.0])).tolist()]
    [100.0, 0.0, 60.0]
    """
    if not isinstance(image_embeds, torch.Tensor) or image_embeds.ndim != 2:
        raise MetricError(f"image_embeds must be a (T, D) tensor, got {_shape(image_embeds)}")
    if not isinstance(text_embed, torch.Tensor) or text_embed.ndim != 1:
        raise MetricError(f"text_embed must be a (D,) tensor, got {_shape(text_embed)}")
    if image_embeds.shape[1] != text_embed.shape[0]:
        raise MetricError(
            f"image embeddings have width {image_embeds.shape[1]} but the text embedding has {text_embed.shape[0]}"
        )
    dtype = torch.promote_types(torch.promote_types(image_embeds.dtype, text_embed.dtype), torch.float32)
    images = torch.nn.functional.normalize(image_embeds.to(dtype), dim=-1)
    text = torch.nn.functional.normalize(text_embed.to(device=images.device, dtype=dtype), dim=-1)
    return 100.0 * (images @ text).clamp_min(0.0)


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__
