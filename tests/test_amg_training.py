"""AMG training on a tiny dataset folder with tiny random components, on CPU, through the real paths."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from modelscope_for_tests import randomize_trainable, save_base_folder, tiny_base_components

from amg_bench.cli import main
from amg_bench.errors import DatasetError, MethodError, OutputExistsError
from amg_bench.methods.amg.components import load_base_components
from amg_bench.methods.amg.pipeline import AMGPipeline
from amg_bench.methods.amg.unet import is_trainable_name, mark_trainable
from amg_bench.training import latent_cache
from amg_bench.training.amg import (
    AMGTrainingConfig,
    diffusion_loss,
    enable_block_checkpointing,
    list_checkpoints,
    setup_training,
    train_amg,
)
from amg_bench.training.data import iter_clip_sources, resolve_dataset
from amg_bench.video import encode_mp4, read_video

NUM_CLIPS = 5


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_clip(rng, frames=16, size=32):
    """A moving colour gradient (compresses well, decodes close to the input)."""
    y, x = np.mgrid[0:size, 0:size]
    phase = rng.uniform(0, 2 * np.pi, 3)
    video = [np.stack([127 + 120 * np.sin(x / 5 + y / 7 + t / 3 + p) for p in phase], -1) for t in range(frames)]
    return np.clip(video, 0, 255).astype(np.uint8)


def write_dataset(folder, clips=NUM_CLIPS, seed=0):
    from datasets import Dataset, Features, Value, Video

    rng = np.random.default_rng(seed)
    rows = {"clip_id": [], "video": [], "avatar_video": [], "scene_caption": [], "num_people": []}
    for i in range(clips):
        rows["clip_id"].append(f"demo_{i:06d}")
        rows["video"].append({"bytes": encode_mp4(smooth_clip(rng), 8), "path": None})
        rows["avatar_video"].append({"bytes": encode_mp4(smooth_clip(rng), 8), "path": None})
        rows["scene_caption"].append(["a man walks", "two people dance", "a girl runs", "a dog sits", "rain"][i % 5])
        rows["num_people"].append(1)
    features = Features(
        {
            "clip_id": Value("string"),
            "video": Video(),
            "avatar_video": Video(),
            "scene_caption": Value("string"),
            "num_people": Value("int32"),
        }
    )
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("amg_train")
    save_base_folder(tiny_base_components(seed=4), root / "base")
    write_dataset(root / "data")
    # the latents every run at the default size reads (what its first run would encode)
    sources = list(iter_clip_sources(resolve_dataset(str(root / "data"))))
    latent_cache.build_cache(
        AMGPipeline.from_base(root / "base"), sources, root / "cache", height=16, width=16, num_frames=16
    )
    return root


def config(world, out, **overrides):
    options = dict(
        dataset=str(world / "data"),
        base=str(world / "base"),
        out=str(out),
        max_steps=5,
        batch_size=2,
        learning_rate=1e-3,
        warmup_steps=0,
        checkpoint_every=2,
        seed=0,
        cache_dir=str(world / "cache"),
    )
    options.update(overrides)
    return AMGTrainingConfig(**options)


@pytest.fixture(scope="module")
def run_a(world):
    final = train_amg(config(world, world / "run_a"))
    return world / "run_a", final


def cached_batch(world, clip_ids=("demo_000000", "demo_000001")):
    """Cache entries of these clips (each clip has one file in the shared cache at the default size)."""
    files = [next((world / "cache").rglob(f"{clip_id}-*.safetensors")) for clip_id in clip_ids]
    items = [latent_cache.CachedClips(files)[i] for i in range(len(files))]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def mean_loss(unet, scheduler, batch, seeds=range(6)):
    with torch.no_grad():
        return float(
            np.mean([diffusion_loss(unet, scheduler, batch, torch.Generator().manual_seed(s)).item() for s in seeds])
        )


def initial_pipeline(world, seed=0):
    """What a run with this seed starts from (the same fresh LoRA initialisation)."""
    from accelerate.utils import set_seed

    set_seed(seed)
    return AMGPipeline.from_base(world / "base")


#: The SD VAE's latent scale (the release's ``scale_factor``).
VAE_SCALE = 0.18215


def release_alphas_cumprod():
    """VGen "linear_sd": betas linear in sqrt space from 0.00085 to 0.012 over 1000 steps, float64."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    return np.cumprod(1 - betas)


def test_diffusion_loss_is_the_noise_mse_written_out(world):
    pipe = AMGPipeline.from_base(world / "base")
    randomize_trainable(pipe.unet)  # the condition channels matter
    batch = cached_batch(world)
    latents, condition, text = batch["latents"], batch["condition"], batch["prompt_embeds"]
    seed = 3
    generator = torch.Generator().manual_seed(seed)  # the noise first, then one timestep per clip in [0, 1000)
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = torch.randint(0, 1000, (latents.shape[0],), generator=generator)
    assert timesteps.max() >= 500  # so a draw from half the range would differ
    a_t = torch.from_numpy(release_alphas_cumprod())[timesteps].view(-1, 1, 1, 1, 1)
    noisy = (a_t.sqrt() * latents + (1 - a_t).sqrt() * noise).float()
    with torch.no_grad():
        prediction = pipe.unet(torch.cat([noisy, condition], dim=1), timesteps, encoder_hidden_states=text).sample
        expected = ((prediction - noise) ** 2).mean()
        got = diffusion_loss(pipe.unet, pipe.scheduler, batch, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)


def test_cache_holds_scaled_posterior_samples_of_video_and_condition(world, tmp_path):
    pipe = AMGPipeline.from_base(world / "base")
    (source,) = list(iter_clip_sources(resolve_dataset(str(world / "data"))))[:1]
    (path,) = latent_cache.build_cache(pipe, [source], tmp_path, height=32, width=32, num_frames=16)
    entry = latent_cache.CachedClips([path])[0]
    with torch.no_grad():
        ids = pipe.tokenizer([source.caption], padding="max_length", max_length=16, return_tensors="pt").input_ids
        torch.testing.assert_close(entry["prompt_embeds"], pipe.text_encoder(ids).last_hidden_state[0])
        for name, data in (("latents", source.video), ("condition", source.condition)):
            pixels = torch.from_numpy(read_video(data)[:16]).permute(0, 3, 1, 2).float() / 127.5 - 1  # 32 x 32 already
            posterior = pipe.vae.encode(pixels).latent_dist
            # what the sample's noise must have been: standard normal if it is (mean + std * noise) * scale
            z = (entry[name].permute(1, 0, 2, 3) / VAE_SCALE - posterior.mean) / posterior.std
            assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 1) < 0.05, (name, z.mean(), z.std())


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_setup_follows_the_release_recipe(world, tmp_path):
    import math

    from diffusers.models.resnet import ResnetBlock2D, TemporalConvLayer

    release = AMGTrainingConfig(
        dataset=str(world / "data"), base=str(world / "base"), out=str(tmp_path / "run"), cache_dir=str(world / "cache")
    )
    run = setup_training(release)
    optimizer = run.optimizer.optimizer
    assert type(optimizer) is torch.optim.AdamW
    (group,) = optimizer.param_groups
    assert (group["initial_lr"], group["weight_decay"], group["betas"], group["eps"]) == (1e-6, 0.0, (0.9, 0.999), 1e-8)
    trainable = {id(p) for name, p in run.pipe.unet.named_parameters() if is_trainable_name(name)}
    assert {id(p) for p in group["params"]} == trainable
    # dropout 0.1 in every ResBlock and in its temporal convolutions, as ModelScope builds them
    resnets = [m for m in run.pipe.unet.modules() if isinstance(m, ResnetBlock2D)]
    assert resnets and {m.dropout.p for m in resnets} == {0.1}
    temporal = [d for m in run.pipe.unet.modules() if isinstance(m, TemporalConvLayer) for d in m.modules()]
    assert {d.p for d in temporal if isinstance(d, torch.nn.Dropout)} == {0.1}
    # the release's AnnealingLR: step s (from 0) runs at lr * s / 10 up to s = 10, then cosine to 0 at 1,000,000
    lrs = []
    for _ in range(13):
        lrs.append(optimizer.param_groups[0]["lr"])
        run.lr_scheduler.step()
    expected = [
        1e-6 * s / 10 if s <= 10 else 1e-6 * (1 + math.cos(math.pi * (s - 10) / (1e6 - 10))) / 2 for s in range(13)
    ]
    np.testing.assert_allclose(lrs, expected, rtol=1e-9, atol=1e-18)
    run.accelerator.end_training()


def test_a_few_steps_on_a_fixed_batch_lower_the_loss(world, tmp_path):
    two_clips = resolve_dataset(str(world / "data")).select(range(2))
    final = train_amg(
        config(world, tmp_path / "fixed", dataset=two_clips, max_steps=6, checkpoint_every=6, learning_rate=3e-3)
    )
    trained, initial = AMGPipeline.from_pretrained(final), initial_pipeline(world)
    batch = cached_batch(world, two_clips["clip_id"])
    before, after = mean_loss(initial.unet, initial.scheduler, batch), mean_loss(trained.unet, trained.scheduler, batch)
    assert after < 0.9 * before, (before, after)


def test_training_changes_only_lora_and_conv(world, run_a):
    out, final = run_a
    trained, initial = AMGPipeline.from_pretrained(final), initial_pipeline(world)
    before, after = initial.unet.state_dict(), trained.unet.state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {k for k in before if is_trainable_name(k)}
    base = load_base_components(world / "base")
    for name in ("text_encoder", "vae"):
        ours, theirs = getattr(trained, name).state_dict(), base[name].state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)

    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(r["loss"]) and r["lr"] == pytest.approx(1e-3, rel=1e-3) for r in log)
    assert [p.name for p in list_checkpoints(out)] == ["checkpoint-0000002", "checkpoint-0000004", "checkpoint-0000005"]
    assert not any((p / "model.safetensors").exists() for p in list_checkpoints(out))  # only LoRA + conv saved


def test_resume_continues_from_the_saved_step(world, run_a, tmp_path):
    out_b = tmp_path / "run_b"
    runner = CliRunner()
    args = [
        "train",
        "amg",
        "--dataset",
        str(world / "data"),
        "--base",
        str(world / "base"),
        "--out",
        str(out_b),
        "--batch-size",
        "2",
        "--learning-rate",
        "1e-3",
        "--warmup-steps",
        "0",
        "--checkpoint-every",
        "2",
        "--seed",
        "0",
        "--cache-dir",
        str(world / "cache"),
        "--num-workers",
        "0",
    ]
    first = runner.invoke(main, args + ["--max-steps", "2"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, args + ["--max-steps", "2"])
    assert again.exit_code == 1 and "--resume latest" in again.output
    resumed = runner.invoke(main, args + ["--max-steps", "5", "--resume", "latest"])
    assert resumed.exit_code == 0, resumed.output

    a = AMGPipeline.from_pretrained(run_a[1]).unet.state_dict()
    b = AMGPipeline.from_pretrained(out_b / "pipeline").unet.state_dict()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []  # Adam moments, LR schedule, data order all resumed
    log = [json.loads(line)["step"] for line in (out_b / "train_log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4, 5]


def test_latent_cache_is_computed_once_and_keyed_by_content(world, tmp_path, monkeypatch):
    pipe = AMGPipeline.from_base(world / "base")
    sources = list(iter_clip_sources(resolve_dataset(str(world / "data"))))[:2]
    calls = []
    encode = latent_cache.encode_clip
    monkeypatch.setattr(latent_cache, "encode_clip", lambda *a, **k: calls.append(a[1].clip_id) or encode(*a, **k))
    kwargs = dict(height=16, width=16, num_frames=16)
    paths = latent_cache.build_cache(pipe, sources, tmp_path, **kwargs)
    assert latent_cache.build_cache(pipe, sources, tmp_path, **kwargs) == paths
    assert calls == ["demo_000000", "demo_000001"]
    item = latent_cache.CachedClips(paths)[0]
    assert item["latents"].shape == item["condition"].shape == (4, 16, 8, 8)
    assert item["prompt_embeds"].shape == (16, 32)
    assert paths[0].name.startswith("demo_000000-")

    edited = latent_cache.ClipSource(
        sources[0].clip_id, sources[0].video + b"\0", sources[0].condition, sources[0].caption
    )
    assert latent_cache.cache_key(edited) != latent_cache.cache_key(sources[0])
    with torch.no_grad():
        pipe.vae.decoder.conv_out.bias.add_(1.0)  # another VAE -> other files
    assert latent_cache.build_cache(pipe, sources, tmp_path, **kwargs)[0] != paths[0]


def test_block_checkpointing_keeps_loss_and_gradients(world):
    pipe = AMGPipeline.from_base(world / "base")
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in pipe.unet.named_parameters():
            if ".lora_B." in name:
                param.normal_(0, 0.1)
    unet = pipe.unet.train()
    mark_trainable(unet)
    batch = cached_batch(world, ("demo_000000",))
    results = []
    for checkpointed in (False, True):
        if checkpointed:
            assert enable_block_checkpointing(unet) > 0
        unet.zero_grad()
        torch.manual_seed(1)  # dropout masks
        loss = diffusion_loss(unet, pipe.scheduler, batch, torch.Generator().manual_seed(0))
        loss.backward()
        results.append((loss.item(), unet.conv_in.weight.grad.clone()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-5, atol=1e-7)


def test_bad_inputs_are_named(world, tmp_path):
    with pytest.raises(MethodError, match="unknown tracker"):
        train_amg(config(world, tmp_path / "x", log_with=("nonsense",)))
    with pytest.raises(MethodError, match="learning_rate"):
        config(world, tmp_path / "x", learning_rate=0)
    with pytest.raises(DatasetError, match="dataset folder .*no_dataset does not exist"):
        resolve_dataset(str(tmp_path / "no_dataset"))
    from datasets import Dataset

    with pytest.raises(DatasetError, match="avatar_video"):
        list(iter_clip_sources(Dataset.from_dict({"clip_id": ["a"], "video": [None], "scene_caption": ["c"]})))
    (tmp_path / "used" / "checkpoints").mkdir(parents=True)
    with pytest.raises(MethodError, match="no checkpoint"):
        train_amg(config(world, tmp_path / "used", resume="latest"))
    (tmp_path / "used" / "train_log.jsonl").write_text("")
    with pytest.raises(OutputExistsError):
        train_amg(config(world, tmp_path / "used"))


def test_loss_is_logged_to_tensorboard(world, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    train_amg(config(world, out, max_steps=2, checkpoint_every=2, log_with=("tensorboard",)))
    events = list(out.rglob("events.out.tfevents.*"))
    assert events, sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert any("loss" in tag for tag in tags), tags
    assert len(accumulator.Scalars(next(t for t in tags if "loss" in t))) == 2
