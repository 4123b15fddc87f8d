"""CLIP score of a video against its caption, with open_clip.

Choices:
- Model: ``open_clip.create_model_and_transforms(model_name, pretrained=...)``; default
  ``ViT-L-14`` with the ``openai`` weights (the weights of ``openai/clip-vit-large-patch14``).
  ``pretrained`` is a tag or a local weights file; ``model_name`` may also use open_clip's
  ``hf-hub:`` / ``local-dir:`` schemas.
- Activation: OpenAI's CLIP weights were trained with QuickGELU. open_clip 3.3 builds ``ViT-L-14``
  with plain GELU and only warns when the ``openai`` tag says ``quick_gelu``. ``activation="auto"``
  passes ``force_quick_gelu`` when the tag's config asks for it, and for a local weights file when
  OpenAI released weights for the architecture (open_clip lists an ``openai`` tag for it: the
  benchmark's CLIP score is defined on OpenAI's weights, so such a file is taken to be a copy of
  them); ``"quick_gelu"`` / ``"gelu"`` decide explicitly. The activation actually built is read
  back from the model and recorded.
- Images: the model's own validation transform (for ViT-L-14/openai: bicubic resize of the
  shortest side to 224, centre crop, OpenAI mean/std), applied per frame to an RGB PIL image.
  Frames are embedded ``batch_size`` at a time.
- Text: the model's tokenizer at its context length (77 for CLIP); longer captions are
  truncated by the tokenizer and the result says so. A caption is truncated when its tokens at
  the model's context differ from the first ``context_length`` tokens of a tokenization 8x longer
  (the truncated one ends with the end-of-text token where the full one continues).
  Text embeddings can be precomputed (the runner caches them on disk, keyed by caption).
- Score: :func:`~amg_bench.metrics.functional.clip_score.clip_score_from_embeddings`
  (``100 * max(cos, 0)`` per frame), mean over frames, computed in float32 whatever the model dtype.
- Weights: open_clip resolves tags through the Hugging Face hub cache (``HF_HOME`` /
  ``HF_HUB_CACHE``; ``ViT-L-14``/``openai`` -> ``timm/vit_large_patch14_clip_224.openai``, file
  ``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin``). When they are not there and
  cannot be downloaded, loading raises :class:`~amg_bench.errors.MissingWeightsError` naming them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import positive_int
from ..errors import MetricError, MissingWeightsError
from ..video import check_frames

DEFAULT_MODEL = "ViT-L-14"
DEFAULT_PRETRAINED = "openai"
_PRECISIONS = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
ACTIVATIONS = ("auto", "quick_gelu", "gelu")


def built_activation(model) -> str:
    """``"quick_gelu"`` or ``"gelu"``: the MLP activation the built model really uses."""
    from open_clip.transformer import QuickGELU

    return "quick_gelu" if any(isinstance(m, QuickGELU) for m in model.modules()) else "gelu"


@dataclass(frozen=True)
class ClipScoreResult:
    """CLIP score of one clip: the mean, the per-frame values and whether the caption was cut."""

    score: float
    per_frame: list[float] = field(default_factory=list)
    truncated: bool = False


def _schema(model_name: str) -> tuple[str | None, str]:
    """open_clip's model-name schemas: ``hf-hub:<repo>``, ``local-dir:<folder>`` or none."""
    for schema in ("hf-hub", "local-dir"):
        if model_name.startswith(schema + ":"):
            return schema, model_name[len(schema) + 1 :]
    return None, model_name


def _weight_source(model_name: str, pretrained: str | None) -> dict[str, Any]:
    """Where open_clip takes the weights from: ``{"file"}``, ``{"hf_hub", "files"}`` or ``{"url"}``."""
    import open_clip

    schema, identifier = _schema(model_name)
    if schema == "hf-hub":
        return {"hf_hub": identifier, "files": list(_WEIGHT_FILES)}
    if schema == "local-dir":
        return {"file": identifier}
    cfg = open_clip.get_pretrained_cfg(model_name.replace("/", "-"), pretrained or "")
    if not cfg and pretrained and (os.path.isfile(pretrained) or os.sep in pretrained or "." in pretrained):
        return {"file": pretrained}  # open_clip: a value that is not a tag is a weights file
    if cfg.get("hf_hub"):
        # open_clip: "org/repo/" means the default file; it tries a .safetensors twin first.
        repo, filename = os.path.split(cfg["hf_hub"])
        filename = filename or _WEIGHT_FILES[1]
        names = [filename]
        if filename == _WEIGHT_FILES[1]:
            names.insert(0, _WEIGHT_FILES[0])
        elif filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        return {"hf_hub": repo, "files": names}
    if cfg.get("url"):
        return {"url": cfg["url"]}
    return {}


def clip_weights_available(
    model_name: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED, cache_dir: str | None = None
) -> bool:
    """Whether the weights are on this machine (no network, no model build): a cheap check.

    ``cache_dir`` is the one given to open_clip (default: the Hugging Face hub cache, or
    ``~/.cache/clip`` for URL-only weights).
    """
    from huggingface_hub import try_to_load_from_cache

    source = _weight_source(model_name, pretrained)
    if "file" in source:
        path = Path(source["file"])
        return path.is_file() or (path / "open_clip_config.json").is_file()
    if "hf_hub" in source:
        names = source["files"]
        if model_name.startswith("hf-hub:") and not isinstance(
            try_to_load_from_cache(source["hf_hub"], "open_clip_config.json", cache_dir=cache_dir), str
        ):
            return False
        return any(isinstance(try_to_load_from_cache(source["hf_hub"], n, cache_dir=cache_dir), str) for n in names)
    if "url" in source:
        folder = Path(cache_dir) if cache_dir else Path("~/.cache/clip").expanduser()
        return (folder / os.path.basename(source["url"])).is_file()
    return False


def clip_download_hint(model_name: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED) -> str:
    """The command that puts these CLIP weights where open_clip reads them."""
    source = _weight_source(model_name, pretrained)
    if "hf_hub" in source:
        return f"`hf download {source['hf_hub']} {source['files'][0]}`"
    if "url" in source:
        return f"download {source['url']} into ~/.cache/clip"
    return f"put the weights file at {source.get('file', pretrained)}"


def _missing_weights_message(model_name: str, pretrained: str | None, cache_dir: str | None) -> str:
    from huggingface_hub import constants

    source = _weight_source(model_name, pretrained)
    if "hf_hub" in source:
        where = cache_dir or constants.HF_HUB_CACHE
        return (
            f"CLIP weights for {model_name}/{pretrained} are not available offline: download the Hugging Face "
            f"repo {source['hf_hub']} (file {' or '.join(source['files'])}), e.g. "
            f"`hf download {source['hf_hub']}` on a machine with network, into the hub cache {where} "
            "(set HF_HOME or HF_HUB_CACHE to use another folder), or pass pretrained=<local weights file>"
        )
    if "url" in source:
        where = cache_dir or Path("~/.cache/clip").expanduser()
        return (
            f"CLIP weights for {model_name}/{pretrained} are not available offline: "
            f"download {source['url']} into {where}"
        )
    if "file" in source:
        return f"CLIP weights file {source['file']} does not exist"
    return f"unknown CLIP weights {pretrained!r} for {model_name}: give an open_clip pretrained tag or a weights file"


class CLIPScorer:
    """Scores frames against captions with an open_clip model (see the module docstring).

    Args:
        model_name: open_clip architecture (``ViT-L-14``) or ``hf-hub:``/``local-dir:`` source.
        pretrained: open_clip tag (``openai``) or a local weights file; required, because random
            weights give no score.
        device: torch device.
        dtype: ``float32``, ``float16`` or ``bfloat16`` (open_clip ``precision``).
        batch_size: frames per image-encoder forward.
        cache_dir: download cache given to open_clip (default: the Hugging Face hub cache).
        activation: ``"auto"``, ``"quick_gelu"`` or ``"gelu"`` (see the module docstring).

    Raises:
        MetricError: bad options, or the model cannot be built.
        MissingWeightsError: the weights are not on this machine and cannot be downloaded.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        pretrained: str | None = DEFAULT_PRETRAINED,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        cache_dir: str | None = None,
        activation: str = "auto",
    ):
        if activation not in ACTIVATIONS:
            raise MetricError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        if dtype not in _PRECISIONS:
            raise MetricError(f"dtype must be one of {list(_PRECISIONS)}, got {dtype!r}")
        batch_size = positive_int(batch_size, "batch_size", MetricError)
        if not pretrained and _schema(model_name)[0] is None:
            raise MetricError(f"pretrained must name CLIP weights (tag or file) for {model_name}, got {pretrained!r}")
        self.model_name = model_name
        self.pretrained = pretrained
        self.device = str(device)
        self.dtype = dtype
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.activation_option = activation
        self._model, self._preprocess, self._tokenizer = self._load()
        self.activation = built_activation(self._model)

    def _load(self):
        import open_clip

        schema, _ = _schema(self.model_name)
        quick_gelu = self._wants_quick_gelu()
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name,
                pretrained=self.pretrained if not schema else None,
                precision=_PRECISIONS[self.dtype],
                device=self.device,
                force_quick_gelu=quick_gelu,
                cache_dir=self.cache_dir,
            )
            tokenizer = open_clip.get_tokenizer(self.model_name, cache_dir=self.cache_dir)
        except (RuntimeError, OSError, ValueError) as exc:
            if not clip_weights_available(self.model_name, self.pretrained, self.cache_dir):
                message = _missing_weights_message(self.model_name, self.pretrained, self.cache_dir)
                raise MissingWeightsError(message) from exc
            raise MetricError(f"cannot load CLIP {self.model_name} with pretrained={self.pretrained!r}: {exc}") from exc
        model.eval()
        return model, preprocess, tokenizer

    def _wants_quick_gelu(self) -> bool:
        import open_clip

        if self.activation_option != "auto":
            return self.activation_option == "quick_gelu"
        schema, _ = _schema(self.model_name)
        if schema is not None:
            return False  # hf-hub: / local-dir: folders carry their own config
        name = self.model_name.replace("/", "-")
        tag_cfg = open_clip.get_pretrained_cfg(name, self.pretrained or "")
        if tag_cfg:
            return bool(tag_cfg.get("quick_gelu", False))
        return bool(open_clip.get_pretrained_cfg(name, "openai"))  # a weights file of an OpenAI architecture

    @property
    def context_length(self) -> int:
        """Tokens the text encoder reads (captions are truncated to it)."""
        return int(getattr(self._tokenizer, "context_length", None) or self._model.context_length)

    def text_embedding(self, caption: str):
        """Embedding of ``caption`` and whether it was truncated.

        Returns:
            ``(embedding, truncated)``: float32 CPU tensor ``(D,)`` and a bool.

        Raises:
            MetricError: the caption is not a non-empty string.
        """
        import torch

        if not isinstance(caption, str) or not caption.strip():
            raise MetricError(f"caption must be a non-empty string, got {caption!r}")
        tokens = self._tokenizer([caption], context_length=self.context_length)
        longer = self._tokenizer([caption], context_length=8 * self.context_length)
        truncated = not torch.equal(tokens, longer[:, : self.context_length])
        with torch.inference_mode():
            embedding = self._model.encode_text(tokens.to(self.device))[0].float().cpu()
        return embedding, truncated

    def image_embeddings(self, frames: np.ndarray):
        """Embeddings of every frame, float32 CPU ``(T, D)``, ``batch_size`` frames per forward.

        Raises:
            VideoError: ``frames`` is not uint8 ``(T, H, W, 3)``.
        """
        import torch
        from PIL import Image

        frames = check_frames(frames, "frames")
        model_dtype = next(self._model.parameters()).dtype
        out = []
        for start in range(0, len(frames), self.batch_size):
            batch = torch.stack([self._preprocess(Image.fromarray(f)) for f in frames[start : start + self.batch_size]])
            with torch.inference_mode():
                out.append(self._model.encode_image(batch.to(self.device, model_dtype)).float().cpu())
        return torch.cat(out)

    def score(self, frames: np.ndarray, caption: str, text: tuple[Any, bool] | None = None) -> ClipScoreResult:
        """CLIP score of a clip: mean over frames of ``100 * max(cos(frame, caption), 0)``.

        Args:
            frames: uint8 ``(T, H, W, 3)`` RGB.
            caption: the clip's scene caption.
            text: ``(embedding, truncated)`` of ``caption`` when already computed (e.g. cached).

        Raises:
            VideoError: bad frames.
            MetricError: empty caption.
        """
        from .functional.clip_score import clip_score_from_embeddings

        embedding, truncated = text if text is not None else self.text_embedding(caption)
        per_frame = clip_score_from_embeddings(self.image_embeddings(frames), embedding)
        return ClipScoreResult(float(per_frame.mean()), [float(v) for v in per_frame], truncated)

    def config(self) -> dict[str, Any]:
        """Provenance: model, weights, context length, preprocessing, dtype."""
        import open_clip

        preprocess = dict(open_clip.get_model_preprocess_cfg(self._model))
        return {
            "model": self.model_name,
            "pretrained": self.pretrained,
            "activation": self.activation,
            "context_length": self.context_length,
            "text_truncation": f"tokenizer truncates captions to {self.context_length} tokens",
            "preprocessing": {k: list(v) if isinstance(v, tuple) else v for k, v in preprocess.items()},
            "dtype": self.dtype,
            "score": "mean over frames of 100*max(cos(image, text), 0)",
            "open_clip": open_clip.__version__,
        }
