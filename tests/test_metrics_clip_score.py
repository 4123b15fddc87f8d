"""CLIP score: the pure function by hand, and the real open_clip loading path with a tiny model."""

import json

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from amg_bench.errors import MetricError, MissingWeightsError, VideoError
from amg_bench.metrics.clip_score import CLIPScorer, clip_weights_available
from amg_bench.metrics.functional.clip_score import clip_score_from_embeddings

TINY = "amg-bench-test-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def test_clip_score_from_embeddings_by_hand():
    images = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [3.0, 4.0], [-3.0, 4.0], [0.0, 0.0]])
    text = torch.tensor([5.0, 0.0])
    # cos = 1, 0, -1, 0.6, -0.6, 0 (zero vector) -> 100 * max(cos, 0)
    expected = torch.tensor([100.0, 0.0, 0.0, 60.0, 0.0, 0.0])
    torch.testing.assert_close(clip_score_from_embeddings(images, text), expected)
    assert clip_score_from_embeddings(images.double(), text).dtype == torch.float64
    assert clip_score_from_embeddings(images.half(), text.half()).dtype == torch.float32


@pytest.mark.parametrize(
    "images, text, message",
    [
        (torch.zeros(3), torch.zeros(3), r"image_embeds must be a \(T, D\) tensor, got \(3,\)"),
        (torch.zeros(2, 3), torch.zeros(1, 3), r"text_embed must be a \(D,\) tensor, got \(1, 3\)"),
        (torch.zeros(2, 3), torch.zeros(4), "width 3 but the text embedding has 4"),
    ],
)
def test_clip_score_from_embeddings_errors(images, text, message):
    with pytest.raises(MetricError, match=message):
        clip_score_from_embeddings(images, text)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_clip")
    config = folder / f"{TINY}.json"
    config.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY)
    path = folder / "tiny_clip.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def frames(count=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 40, 50, 3), dtype=np.uint8)


def test_scorer_matches_an_independent_computation(tiny_weights):
    scorer = CLIPScorer(TINY, pretrained=str(tiny_weights), batch_size=2)
    video, caption = frames(), "a person walks along a beach at sunset"
    result = scorer.score(video, caption)

    model, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=str(tiny_weights))
    model.eval()
    with torch.no_grad():
        images = model.encode_image(torch.stack([preprocess(Image.fromarray(f)) for f in video]))
        text = model.encode_text(open_clip.get_tokenizer(TINY)([caption]))
    cos = torch.nn.functional.cosine_similarity(images, text)
    expected = 100 * cos.clamp(min=0)
    np.testing.assert_allclose(result.per_frame, expected.numpy(), rtol=1e-5, atol=1e-4)
    assert result.score == pytest.approx(float(expected.mean()), abs=1e-4)
    assert result.truncated is False
    assert all(0.0 <= v <= 100.0 for v in result.per_frame)
    assert CLIPScorer(TINY, pretrained=str(tiny_weights), batch_size=16).score(
        video, caption
    ).per_frame == pytest.approx(result.per_frame, abs=1e-4)


def test_truncation_is_recorded(tiny_weights):
    scorer = CLIPScorer(TINY, pretrained=str(tiny_weights))
    assert scorer.context_length == 16
    assert scorer.text_embedding("a dog")[1] is False
    assert scorer.text_embedding("one two three four five six seven eight nine ten eleven twelve thirteen")[1] is False
    long_caption = " ".join(["word"] * 15)  # 15 tokens + start + end = 17 > 16
    assert scorer.text_embedding(long_caption)[1] is True
    assert scorer.score(frames(2), long_caption).truncated is True


def test_text_embeddings_are_cached_on_disk_per_caption(tiny_weights, tmp_path, monkeypatch):
    from amg_bench.evaluation.scoring import CachingTextEncoder

    scorer = CLIPScorer(TINY, pretrained=str(tiny_weights))
    calls = []
    encode = scorer._model.encode_text
    monkeypatch.setattr(scorer._model, "encode_text", lambda tokens: calls.append(1) or encode(tokens))
    cached = CachingTextEncoder(scorer, tmp_path)
    first, truncated = cached("a red car")
    second, _ = CachingTextEncoder(scorer, tmp_path)("a red car")  # another run: read from disk
    cached("a blue car")
    assert len(calls) == 2 and truncated is False
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first, scorer.text_embedding("a red car")[0])
    assert first.shape == (16,) and first.dtype == torch.float32
    # a precomputed embedding is what the score uses
    video = frames(2)
    direct = scorer.score(video, "a red car")
    assert scorer.score(video, "ignored", text=(first, False)).per_frame == pytest.approx(direct.per_frame, abs=1e-5)


def test_openai_weights_are_built_with_quick_gelu():
    from amg_bench.metrics.clip_score import built_activation

    def wants(model, pretrained, activation="auto"):
        scorer = CLIPScorer.__new__(CLIPScorer)
        scorer.model_name, scorer.pretrained, scorer.activation_option = model, pretrained, activation
        return scorer._wants_quick_gelu()

    assert wants("ViT-L-14", "openai") is True  # the tag says quick_gelu
    assert wants("ViT-L-14", "laion2b_s32b_b82k") is False
    assert wants("ViT-L-14", "/weights/ViT-L-14.pt") is True  # a file for an architecture OpenAI released
    assert wants("ViT-L-14", "/weights/mine.safetensors", activation="gelu") is False
    assert wants(TINY, "/weights/tiny.safetensors") is False  # no OpenAI release of this architecture
    quick = open_clip.create_model(TINY, force_quick_gelu=True)
    assert built_activation(quick) == "quick_gelu" and built_activation(open_clip.create_model(TINY)) == "gelu"


def test_config_and_bad_inputs(tiny_weights):
    scorer = CLIPScorer(TINY, pretrained=str(tiny_weights))
    config = scorer.config()
    assert config["model"] == TINY and config["context_length"] == 16
    assert config["preprocessing"]["size"] == [32, 32] and config["activation"] == "gelu"
    with pytest.raises(MetricError, match="caption must be a non-empty string"):
        scorer.score(frames(1), "  ")
    with pytest.raises(VideoError, match="must be uint8"):
        scorer.score(frames(1).astype(np.float32), "a cat")
    with pytest.raises(MetricError, match="dtype must be one of"):
        CLIPScorer(TINY, pretrained=str(tiny_weights), dtype="float8")
    with pytest.raises(MetricError, match="pretrained must name CLIP weights"):
        CLIPScorer(TINY, pretrained=None)


def test_missing_weights_name_the_hub_repo(tmp_path):
    cache = tmp_path / "hf"
    assert not clip_weights_available("ViT-B-32", "openai", cache_dir=str(cache))
    with pytest.raises(MissingWeightsError) as info:
        CLIPScorer("ViT-B-32", "openai", cache_dir=str(cache))
    message = str(info.value)
    assert "timm/vit_base_patch32_clip_224.openai" in message and str(cache) in message
    assert "HF_HUB_CACHE" in message
    with pytest.raises(MissingWeightsError, match="does not exist"):
        CLIPScorer(TINY, pretrained=str(tmp_path / "missing.safetensors"))


def test_weights_available_finds_the_hub_cache_and_files(tmp_path, tiny_weights):
    snapshot = tmp_path / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"x")
    (tmp_path / "models--timm--vit_base_patch32_clip_224.openai" / "refs").mkdir()
    (tmp_path / "models--timm--vit_base_patch32_clip_224.openai" / "refs" / "main").write_text("abc123")
    assert clip_weights_available("ViT-B-32", "openai", cache_dir=str(tmp_path))
    assert not clip_weights_available("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(tmp_path))
    assert clip_weights_available(TINY, str(tiny_weights))
