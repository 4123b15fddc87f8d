"""The VLM captioner: prompts, the appearance box image, batching, the per-frame cache, the CLI.

The model is a tiny random LLaVA (CLIP vision tower + Llama text model) with a word-level
tokenizer, saved with ``save_pretrained`` and loaded back through the real code path
(``AutoProcessor`` / ``AutoModelForImageTextToText``). Its answers are gibberish; the tests
check plumbing, not prose.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

from amg_bench.cli import main
from amg_bench.data.body_model import load_body_model
from amg_bench.data.captioner import (
    APPEARANCE_QUESTION,
    SCENE_QUESTION,
    CaptionCache,
    VLMCaptioner,
    caption_manifest,
    caption_video,
    draw_box,
    pad_to_square,
    plan_requests,
    processor_fill,
)
from amg_bench.data.captions import load_captions
from amg_bench.data.motion import Motion, save_motion
from amg_bench.data.render import NEAR, Camera, person_bbox
from amg_bench.data.windows import WindowSpec, valid_starts
from amg_bench.errors import CaptionError, MissingWeightsError
from amg_bench.video import write_video

TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | upper }}: {% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %} ASSISTANT:{% endif %}"
)
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<image>"]


def save_tiny_llava(folder):
    """A random LLaVA laid out like llava-hf/llava-1.5-7b-hf (config, processor, tokenizer, chat template)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = SPECIAL + ["USER:", "ASSISTANT:"] + SCENE_QUESTION.split() + APPEARANCE_QUESTION.split()
    words += [f"word{i}" for i in range(40)]
    vocab = {word: index for index, word in enumerate(dict.fromkeys(words))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=TEMPLATE,
        num_additional_image_tokens=1,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
            projection_dim=16,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=128,
            pad_token_id=vocab["<pad>"],
            bos_token_id=vocab["<s>"],
            eos_token_id=vocab["</s>"],
        ),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.suppress_tokens = [vocab[t] for t in SPECIAL]  # gibberish, but never empty
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="module")
def captioner(tiny_model):
    return VLMCaptioner(tiny_model, device="cpu", batch_size=4, max_new_tokens=3)


@pytest.fixture(scope="module")
def body():
    return load_body_model("mannequin")


SIZE, FRAMES = (96, 128), 60


def walking_source(folder):
    """Video + motion: person0 walks towards the camera and out at the right; person1 stands."""
    rng = np.random.default_rng(0)
    upright = Rotation.from_euler("x", [[180.0]] * 2, degrees=True).as_rotvec()
    t = np.linspace(0, 1, FRAMES)
    transl = np.zeros((2, FRAMES, 3))
    transl[0] = np.stack([0.2 + 1.2 * t**3, np.full(FRAMES, 0.2), 9.0 - 5.5 * t], 1)
    transl[1] = (-0.8, 0.2, 7.0)
    focal = 548 * max(SIZE) / 512
    motion = Motion(
        global_orient=np.repeat(upright[:, None], FRAMES, 1),
        body_pose=rng.normal(0, 0.1, (2, FRAMES, 69)),
        betas=np.zeros((2, 10)),
        transl=transl,
        valid=np.ones((2, FRAMES), bool),
        intrinsics=[[focal, 0, SIZE[1] / 2], [0, focal, SIZE[0] / 2], [0, 0, 1]],
        extrinsics=np.repeat(np.eye(4)[None], FRAMES, 0),
        image_size=SIZE,
        person_ids=["walker", "stander"],
    )
    save_motion(folder / "walk.npz", motion)
    frames = np.clip(128 + rng.normal(0, 4, (FRAMES, *SIZE, 3)), 0, 255).astype(np.uint8)
    frames[:, :, :, 0] = 60  # no red: a drawn box stands out
    write_video(folder / "walk.mp4", frames, fps=24)
    (folder / "manifest.yaml").write_text(
        yaml.safe_dump(
            {"sources": [{"id": "walk", "video": "walk.mp4", "motion": "walk.npz", "captions": "walk.json"}]}
        )
    )
    return motion


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("walk")
    return folder, walking_source(folder)


def test_draw_box_outlines_exactly_the_box():
    image = np.zeros((40, 50, 3), np.uint8)
    drawn = draw_box(image, (10, 5, 30, 25), thickness=1)
    red = (drawn == (255, 0, 0)).all(-1)
    expected = np.zeros((40, 50), bool)
    expected[5, 10:31] = expected[25, 10:31] = expected[5:26, 10] = expected[5:26, 30] = True
    np.testing.assert_array_equal(red, expected)
    assert not image.any()  # the input is not modified
    thick = (draw_box(image, (10, 5, 30, 25)) == (255, 0, 0)).all(-1)  # default thickness 2: rows 4-6
    assert thick[4:7, 20].all() and not thick[8, 20] and not thick[15, 20]


def _box_inside(motion, body, person, frame):
    vertices, _ = body.forward(
        motion.global_orient[person, [frame]],
        motion.body_pose[person, [frame]],
        motion.betas[person],
        motion.transl[person, [frame]],
    )
    camera = Camera(motion.intrinsics, motion.extrinsics[frame], *SIZE)
    uv = camera.project(vertices[0])
    inside = (
        (camera.to_camera(vertices[0])[:, 2] > NEAR).all()
        and uv.min() >= 0
        and uv[:, 0].max() <= SIZE[1] - 1
        and uv[:, 1].max() <= SIZE[0] - 1
    )
    box = person_bbox(vertices[0], camera)
    return inside, (box[2] - box[0]) * (box[3] - box[1]), box


def test_requests_ask_the_papers_questions_for_the_right_frames(source, body):
    _, motion = source
    requests = plan_requests(motion, FRAMES, body)
    starts = valid_starts(motion.valid, FRAMES, WindowSpec())
    scene = [r for r in requests if r.question == SCENE_QUESTION]
    assert [r.frame for r in scene] == [s + 24 for s in starts] and all(r.box is None for r in scene)
    appearance = {r.person_id: r for r in requests if r.question == APPEARANCE_QUESTION}
    assert sorted(appearance) == ["stander", "walker"]
    walker = appearance["walker"]
    boxes = {f: _box_inside(motion, body, 0, f) for f in range(FRAMES)}
    assert not boxes[FRAMES - 1][0]  # the walker leaves the picture at the end...
    inside_areas = {f: area for f, (inside, area, _) in boxes.items() if inside}
    assert walker.frame == max(inside_areas, key=inside_areas.get)  # ...so the key frame is the largest inside
    assert max(area for _, area, _ in boxes.values()) > inside_areas[walker.frame]  # (not the largest box overall)
    np.testing.assert_allclose(walker.box, boxes[walker.frame][2], atol=1.0)


def test_prompts_and_box_images_reach_the_model(source, body, captioner, tmp_path):
    folder, motion = source
    seen_images, seen_prompts = [], []
    generate, model_generate = captioner.generate, captioner.model.generate

    def spy_generate(images, question):
        seen_images.append((question, [np.array(i) for i in images]))
        return generate(images, question)

    def spy_model_generate(**inputs):
        seen_prompts.extend(captioner.processor.tokenizer.batch_decode(inputs["input_ids"], skip_special_tokens=True))
        return model_generate(**inputs)

    captioner.generate, captioner.model.generate = spy_generate, spy_model_generate
    try:
        captions, stats = caption_video(folder / "walk.mp4", motion, FRAMES, captioner, CaptionCache(tmp_path), body)
    finally:
        del captioner.generate, captioner.model.generate
    requests = plan_requests(motion, FRAMES, body)
    assert stats.generated == len(requests) == 15 + 2 and stats.cached == 0
    batches = {
        q: [len(images) for question, images in seen_images if question == q]
        for q in (SCENE_QUESTION, APPEARANCE_QUESTION)
    }
    assert batches == {SCENE_QUESTION: [4, 4, 4, 3], APPEARANCE_QUESTION: [2]}  # per question, the rest at the end
    assert captioner.prompt(SCENE_QUESTION) == f"USER: <image>\n{SCENE_QUESTION} ASSISTANT:"
    assert sum(p == f"USER: {SCENE_QUESTION} ASSISTANT:" for p in seen_prompts) == 15
    assert sum(p == f"USER: {APPEARANCE_QUESTION} ASSISTANT:" for p in seen_prompts) == 2
    scene_images = [i for q, images in seen_images if q == SCENE_QUESTION for i in images]
    assert not any((image == (255, 0, 0)).all(-1).any() for image in scene_images)  # no box on scene frames
    ((_, appearance_images),) = [(q, images) for q, images in seen_images if q == APPEARANCE_QUESTION]
    boxes = [r.box for r in sorted(requests, key=lambda r: r.frame) if r.person_id is not None]  # video order
    for image, (u0, v0, u1, v1) in zip(appearance_images, boxes):
        red = (image == (255, 0, 0)).all(-1)
        assert red[v0, u0 : u1 + 1].all() and red[v1, u0 : u1 + 1].all()  # top and bottom edges
        assert red[v0 : v1 + 1, u0].all() and red[v0 : v1 + 1, u1].all()  # left and right edges
        assert not red[v0 + 3 : v1 - 2, u0 + 3 : u1 - 2].any()  # nothing inside the outline
        assert red.sum() <= 3 * 2 * ((u1 - u0) + (v1 - v0) + 6)  # an outline (cv2 draws thickness 2 3 px wide)
    assert sorted(captions.scene_frames) == list(range(24, 39))
    assert all(len(text.split()) == 3 for text in [*captions.scene_frames.values(), *captions.appearance.values()])


def entries(cache):
    return sorted(p for p in cache.rglob("*.json") if p.name != "settings.json")


def test_manifest_captions_cover_the_windows_and_resume_from_cache(source, tiny_model, tmp_path, monkeypatch):
    folder, motion = source
    manifest = folder / "manifest.yaml"
    cache = tmp_path / "cache"
    options = dict(model=tiny_model, device="cpu", batch_size=8, max_new_tokens=3, cache_dir=cache, progress=False)
    (first,) = caption_manifest(manifest, **options)
    captions = load_captions(folder / "walk.json")
    spec = WindowSpec()
    windows = [(int(s), spec.caption_frame(int(s))) for s in valid_starts(motion.valid, FRAMES, spec)]
    captions.check_covers(windows, motion.person_ids, "walk.json")
    assert first.stats.generated == 17 and first.stats.cached == 0
    assert len(entries(cache)) == 17

    (kept,) = caption_manifest(manifest, **options)
    assert kept.stats is None  # the file exists: left alone
    written = (folder / "walk.json").read_text()
    victim = entries(cache)[3]
    victim.unlink()
    (again,) = caption_manifest(manifest, **options, overwrite=True)
    assert (again.stats.generated, again.stats.cached) == (1, 16) and victim.exists()
    assert (folder / "walk.json").read_text() == written  # greedy: the same answer again

    def no_model(*args, **kwargs):
        raise AssertionError("everything is cached: the model must not run")

    monkeypatch.setattr(VLMCaptioner, "generate", no_model)
    (cached,) = caption_manifest(manifest, **options, overwrite=True)
    assert (cached.stats.generated, cached.stats.cached) == (0, 17)
    entry = json.loads(victim.read_text())
    assert entry["model"] == str(tiny_model.resolve()) and entry["question"] in (SCENE_QUESTION, APPEARANCE_QUESTION)


def test_unavailable_model_says_how_to_download_it(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(MissingWeightsError) as info:
        VLMCaptioner("llava-hf/llava-1.5-7b-hf", device="cpu")
    message = str(info.value)
    assert "'llava-hf/llava-1.5-7b-hf' is not available offline" in message
    assert "hf download llava-hf/llava-1.5-7b-hf" in message and "HF_HOME" in message


def test_cli_caption(source, tiny_model, tmp_path):
    folder, _ = source
    manifest = folder / "manifest.yaml"
    args = [
        "caption",
        str(manifest),
        "--model",
        str(tiny_model),
        "--device",
        "cpu",
        "--max-new-tokens",
        "2",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
        "--overwrite",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "walk: wrote" in result.output
    assert "15 scene frames, 2 person(s); 17 generated, 0 from cache" in result.output
    result = CliRunner().invoke(main, args[:-1])
    assert result.exit_code == 0 and "walk: kept existing" in result.output
    for model, message in (
        (tmp_path / "nowhere", "nowhere does not exist"),
        ("someone/absent-vlm", "hf download someone/absent-vlm"),
    ):
        result = CliRunner().invoke(
            main, ["caption", str(manifest), "--model", str(model), "--overwrite", "--no-progress"]
        )
        assert result.exit_code == 1 and message in result.output
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_no_valid_window_is_nothing_to_caption(source, body):
    _, motion = source
    with pytest.raises(CaptionError, match="no valid window"):
        plan_requests(motion, 40, body)  # 40 frames < one 46-frame window


def test_pad_to_square_centres_the_image_on_the_fill_colour():
    image = np.full((2, 6, 3), 9, np.uint8)
    square = pad_to_square(image, (1, 2, 3))
    assert square.shape == (6, 6, 3)
    assert (square[2:4] == 9).all()  # rows (6 - 2) // 2 = 2 and 3 hold the image
    assert (square[[0, 1, 4, 5]] == (1, 2, 3)).all()
    tall = pad_to_square(np.full((5, 2, 3), 9, np.uint8), (0, 0, 0))
    assert (tall[:, 1:3] == 9).all() and not tall[:, [0, 3, 4]].any()  # columns (5 - 2) // 2 = 1 and 2
    assert pad_to_square(image[:, :2], (1, 2, 3)) is not None and pad_to_square(square, (0, 0, 0)) is square


def test_a_box_at_the_edge_of_a_wide_frame_reaches_the_model(captioner):
    """llava-hf's processor resizes the short side and centre-crops: a box at x=150-400 of 1920 would be cut away."""
    from transformers import CLIPImageProcessor

    frame = np.full((1080, 1920, 3), 40, np.uint8)
    frame[300:800, 150:400] = (255, 0, 0)
    llava = CLIPImageProcessor(  # llava-hf/llava-1.5-7b-hf's image processor settings
        size={"shortest_edge": 336},
        crop_size={"height": 336, "width": 336},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )

    def red_pixels(image):
        pixels = llava(images=[image], return_tensors="np")["pixel_values"][0]
        rgb = pixels * np.array(llava.image_std)[:, None, None] + np.array(llava.image_mean)[:, None, None]
        return int(((rgb[0] > 0.8) & (rgb[1] < 0.2)).sum())

    assert red_pixels(frame) == 0  # the processor alone drops the box
    fill = processor_fill(llava)
    assert fill == (122, 116, 104)  # int(255 * mean), as LLaVA pads
    padded = pad_to_square(frame, fill)
    assert padded.shape == (1920, 1920, 3) and (padded[419, 150] == fill).all()
    assert (padded[420 + 300, 150] == (255, 0, 0)).all()  # (1920 - 1080) // 2 = 420 rows above the frame
    # 336 / 1920 of a 250 x 500 px box: about 43 x 87 = 3,800 pixels
    assert 3000 < red_pixels(padded) < 4500
    # the captioner hands the processor padded squares of its own processor's mean colour
    seen = []
    prepare = captioner.prepare
    captioner.prepare = lambda images: seen.extend(prepare(images)) or seen
    try:
        captioner.generate([frame[::10, ::10]], SCENE_QUESTION)
    finally:
        del captioner.prepare
    (image,) = seen
    assert image.shape == (192, 192, 3) and (image[0, 0] == processor_fill(captioner.processor)).all()
    assert processor_fill(captioner.processor) == (122, 116, 104)  # the tiny model's CLIP processor mean
    assert (image[42:150] == frame[::10, ::10]).all()  # (192 - 108) // 2 = 42 rows above
