"""LoRA fine-tuning of AMG on the benchmark dataset, with ``accelerate`` (``accelerate launch`` for many GPUs).

Recipe defaults follow the release (``amg/train_net_ddp.py``, ``configs/train.yaml``): AdamW,
lr 1e-6, weight decay 0, batch 8 per GPU, 10 warm-up steps then cosine decay over the release's
``num_steps`` (1,000,000, so the rate barely decays in a 40k-step run), fp16 autocast with a
gradient scaler on GPU, epsilon prediction with MSE, "linear_sd" betas 0.00085-0.012 over 1000
steps, timesteps uniform in [0, 1000), no caption or condition dropout, seed 8888; trainable:
the LoRA matrices and the widened first conv. ``max_steps`` defaults to 40,000 (the released
``non_ema_0640000.pth`` continues a 600k-step base; the paper says 60k). Also as in the release:
dropout 0.1 inside every resnet (ModelScope passes its ``dropout`` to each ResBlock; diffusers'
UNet3D builds them with 0) and activation checkpointing of every resnet, temporal conv and
transformer (the release's ``use_checkpoint``; diffusers' UNet3D does not support it, so it is
added here by wrapping those modules' ``forward``).

Output folder: ``checkpoints/checkpoint-NNNNNNN/`` every ``checkpoint_every`` steps (accelerate
state: optimizer, scheduler, scaler, RNG, sampler; model part = LoRA + conv only), ``train_log.jsonl``
(step, loss, lr), ``train_config.json`` and the final ``pipeline/`` that the
``amg`` method loads.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MethodError, OutputExistsError
from ..files import atomic_directory, write_json, write_text
from ..methods.amg.components import BASE_MODEL
from ..methods.amg.pipeline import LORA_CONFIG, LORA_FOLDER, AMGPipeline
from ..methods.amg.unet import mark_trainable, trainable_state_dict
from .data import dataset_label, iter_clip_sources, resolve_dataset
from .latent_cache import CachedClips, build_cache

TRAINABLE_FILE = "amg_trainable.safetensors"
PROGRESS_FILE = "progress.json"
CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class AMGTrainingConfig:
    """Everything a training run depends on (written to ``train_config.json``).

    Attributes:
        dataset: a ``datasets.Dataset`` or a folder / Hub id for ``load_dataset(..., split=split)``;
            columns ``clip_id``, ``video``, ``avatar_video``, ``scene_caption``.
        out: run folder. base: ModelScope base (fresh AMG UNet) or an AMG pipeline folder (continue).
        max_steps: optimizer steps in total (a resumed run counts from its checkpoint).
        batch_size: clips per process and step. learning_rate, weight_decay: AdamW.
        warmup_steps, schedule_steps: linear warm-up, then cosine decay to 0 at ``schedule_steps``.
        lora_rank: rank of a fresh LoRA. mixed_precision: ``auto`` = fp16 on CUDA, none on CPU.
        gradient_checkpointing, resnet_dropout: see the module docstring.
        checkpoint_every: steps between checkpoints (the last step is always saved).
        resume: ``"latest"`` or a checkpoint folder. seed: every random draw derives from it.
        log_with: accelerate trackers (``tensorboard``, ``wandb``...); ``train_log.jsonl`` always.
        cache_dir: root of the content cache holding the latents (default :func:`amg_bench.cache.cache_root`;
            entries are keyed by content and encoders, so runs share them safely).
        height, width: training frame size (default: the UNet's sample size in pixels, 256).
        num_frames: frames per clip (16). num_workers: data-loader workers.
        overwrite: start again in an ``out`` that holds a run.
    """

    dataset: Any
    out: str
    base: str = BASE_MODEL
    split: str = "train"
    max_steps: int = 40_000
    batch_size: int = 8
    learning_rate: float = 1e-6
    weight_decay: float = 0.0
    warmup_steps: int = 10
    schedule_steps: int = 1_000_000
    lora_rank: int = 4
    mixed_precision: str = "auto"
    gradient_checkpointing: bool = True
    resnet_dropout: float = 0.1
    checkpoint_every: int = 1000
    resume: str | None = None
    seed: int = 8888
    log_with: tuple[str, ...] = field(default_factory=tuple)
    cache_dir: str | None = None
    height: int | None = None
    width: int | None = None
    num_frames: int = 16
    num_workers: int = 0
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name in (
            "max_steps",
            "batch_size",
            "schedule_steps",
            "lora_rank",
            "checkpoint_every",
            "height",
            "width",
            "num_frames",
        ):
            value = getattr(self, name)
            if value is None and name in ("height", "width"):
                continue
            if not isinstance(value, int) or value < 1:
                raise MethodError(f"training option {name} must be a positive integer, got {value!r}")
        if self.warmup_steps < 0 or self.warmup_steps >= self.schedule_steps:
            raise MethodError(f"warmup_steps must be in [0, schedule_steps), got {self.warmup_steps}")
        if self.learning_rate <= 0:
            raise MethodError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise MethodError(f"mixed_precision must be auto, no, fp16 or bf16, got {self.mixed_precision!r}")
        if not 0.0 <= self.resnet_dropout < 1.0:
            raise MethodError(f"resnet_dropout must be in [0, 1), got {self.resnet_dropout}")
        self.log_with = tuple(self.log_with)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["dataset"] = dataset_label(self.dataset)
        data["log_with"] = list(self.log_with)
        return data


# ---------------------------------------------------------------------- pieces of a step
def diffusion_loss(
    unet: torch.nn.Module, scheduler, batch: dict[str, torch.Tensor], generator: torch.Generator
) -> torch.Tensor:
    """Epsilon-prediction MSE of one batch (the release's ``DiffusionDDIM.loss`` with ``mse``/``eps``).

    ``x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) e`` with ``t ~ U{0..999}`` and ``e ~ N(0, I)`` from
    ``generator``; the UNet sees ``cat([x_t, condition], dim=1)``; loss = mean((e_hat - e)^2).
    Batch entries: ``latents`` and ``condition`` ``(B, 4, T, h, w)``, ``prompt_embeds`` ``(B, L, D)``.
    """
    latents, condition = batch["latents"], batch["condition"]
    noise = torch.randn(latents.shape, generator=generator, device=generator.device).to(latents)
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator, device=generator.device
    ).to(latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = unet(
        torch.cat([noisy, condition], dim=1), timesteps, encoder_hidden_states=batch["prompt_embeds"]
    ).sample
    return F.mse_loss(prediction.float(), noise.float())


def seed_step(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """Seed the randomness of one step on one process from (seed, step, rank) alone.

    Returns the generator for noise and timesteps; also re-seeds torch's global RNG, which
    dropout draws from. A resumed run therefore repeats exactly what an uninterrupted one does.
    """
    state = int(np.random.SeedSequence([seed, step, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)
    torch.manual_seed(state)
    return torch.Generator(device=device).manual_seed(state)


def set_resnet_dropout(unet: torch.nn.Module, p: float) -> None:
    """Dropout probability inside every ``ResnetBlock2D`` (ModelScope: the UNet's dropout, 0.1)."""
    from diffusers.models.resnet import ResnetBlock2D

    for module in unet.modules():
        if isinstance(module, ResnetBlock2D):
            module.dropout.p = p


def enable_block_checkpointing(unet: torch.nn.Module) -> int:
    """Recompute each resnet, temporal conv and transformer in backward instead of storing activations.

    Active only in training mode with gradients enabled; returns the number of wrapped modules.
    """
    from diffusers.models.resnet import ResnetBlock2D, TemporalConvLayer
    from diffusers.models.transformers.transformer_2d import Transformer2DModel
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    kinds = (ResnetBlock2D, TemporalConvLayer, Transformer2DModel, TransformerTemporalModel)
    wrapped = 0
    for module in unet.modules():
        if isinstance(module, kinds) and "forward" not in vars(module):
            module.forward = _checkpointed(module, module.forward)
            wrapped += 1
    return wrapped


def _checkpointed(module: torch.nn.Module, forward):
    from torch.utils.checkpoint import checkpoint

    def run(*args, **kwargs):
        if module.training and torch.is_grad_enabled():
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)

    return run


# ---------------------------------------------------------------------- run bookkeeping
def list_checkpoints(out: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = Path(out) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(CHECKPOINT_PREFIX) and (p / PROGRESS_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def resolve_resume(out: str | Path, resume: str) -> Path:
    """``"latest"`` or a checkpoint folder -> the checkpoint folder.

    Raises:
        MethodError: no such (complete) checkpoint.
    """
    if resume == "latest":
        found = list_checkpoints(out)
        if not found:
            raise MethodError(f"--resume latest: no checkpoint under {Path(out) / 'checkpoints'}")
        return found[-1]
    path = Path(resume)
    if not (path / PROGRESS_FILE).is_file():
        raise MethodError(f"--resume {resume}: not a complete checkpoint folder (no {PROGRESS_FILE})")
    return path


def _previous_run(config: AMGTrainingConfig) -> list[Path]:
    """What an earlier run left in ``out`` (to replace when overwriting).

    Raises:
        OutputExistsError: there is such a run and neither resume nor overwrite was asked.
    """
    out = Path(config.out)
    if config.resume is not None:
        return []
    existing = [p for p in (out / "checkpoints", out / "pipeline", out / "train_log.jsonl") if p.exists()]
    if existing and not config.overwrite:
        raise OutputExistsError(
            f"{out} already holds a run ({existing[0].name}); pass --resume latest to continue "
            "it or --overwrite to start again"
        )
    return existing


def _check_trackers(log_with: tuple[str, ...]) -> None:
    from accelerate.tracking import get_available_trackers
    from accelerate.utils import LoggerType

    available = {str(t) for t in get_available_trackers()}
    for tracker in log_with:
        if tracker == "all":
            continue
        if tracker not in LoggerType.list():
            raise MethodError(f"unknown tracker {tracker!r}; choose from {LoggerType.list()}")
        if tracker not in available:
            raise MethodError(f"tracker {tracker!r} is not installed (pip install {tracker})")


def load_training_pipeline(base: str, rank: int) -> AMGPipeline:
    """An AMG pipeline folder continues training as is; a ModelScope base gets a fresh AMG UNet."""
    if (Path(base) / LORA_FOLDER / LORA_CONFIG).is_file():
        return AMGPipeline.from_pretrained(base)
    return AMGPipeline.from_base(base, rank=rank)


def _log_line(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    if path.is_file():
        lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        write_text(path, "".join(line + "\n" for line in lines))


# ---------------------------------------------------------------------- the run
@dataclass
class TrainingRun:
    """A run after :func:`setup_training`: everything the loop and the final save use.

    ``unet``, ``optimizer``, ``loader`` and ``lr_scheduler`` are the ``accelerator.prepare``-d
    objects; ``pipe.unet`` is the unwrapped UNet. ``step`` counts optimizer steps done (a resumed
    run starts at its checkpoint's step).
    """

    config: AMGTrainingConfig
    out: Path
    accelerator: Any
    pipe: AMGPipeline
    unet: torch.nn.Module
    optimizer: Any
    lr_scheduler: Any
    loader: Any
    step: int = 0

    @property
    def log_path(self) -> Path:
        return self.out / "train_log.jsonl"


def train_amg(config: AMGTrainingConfig) -> Path:
    """Train AMG's LoRA + first conv; return the final pipeline folder (``<out>/pipeline``).

    Raises:
        OutputExistsError: ``out`` holds a run and neither resume nor overwrite was asked.
        DatasetError / VideoError: the dataset cannot be read.
        MissingWeightsError: the base model is not available locally.
        MethodError: bad options, unknown tracker, missing checkpoint to resume.
    """
    run = setup_training(config)
    training_loop(run)
    return save_final_pipeline(run)


def setup_training(config: AMGTrainingConfig) -> TrainingRun:
    """Check the options, prepare ``out``, load the model, encode the dataset, build the optimiser; resume.

    Raises: as :func:`train_amg`.
    """
    from accelerate.utils import set_seed

    out = Path(config.out)
    _check_trackers(config.log_with)
    resume_from = resolve_resume(out, config.resume) if config.resume is not None else None
    dataset = resolve_dataset(config.dataset, config.split)  # a bad dataset fails before the model loads
    accelerator = _start_accelerator(config, previous=_previous_run(config))

    # 1. Model: base + widened conv + LoRA (seeded init), frozen except LoRA and conv_in
    set_seed(config.seed)
    pipe = load_training_pipeline(config.base, config.lora_rank)
    # 2. Latent cache (each process encodes its share, then everyone reads all)
    paths = _encode_dataset(config, dataset, pipe, accelerator)
    # 3. Optimisation set-up
    run = _prepare_optimisation(config, out, accelerator, pipe, paths)
    _register_checkpoint_hooks(accelerator)
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        run.step = json.loads((resume_from / PROGRESS_FILE).read_text())["step"]
        if accelerator.is_main_process:
            _truncate_log(run.log_path, run.step)
    if config.log_with:
        accelerator.init_trackers("amg", config={k: str(v) for k, v in config.to_json().items()})
    return run


def _start_accelerator(config: AMGTrainingConfig, previous: list[Path]):
    """The run's ``Accelerator``; the main process clears what ``previous`` lists and writes the config."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

    out = Path(config.out)
    mixed_precision = config.mixed_precision
    if mixed_precision == "auto":
        mixed_precision = "fp16" if torch.cuda.is_available() else "no"
    accelerator = Accelerator(
        mixed_precision=mixed_precision,
        log_with=list(config.log_with) or None,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
    )
    if accelerator.is_main_process:
        for path in previous:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "train_config.json", config.to_json())
    accelerator.wait_for_everyone()
    return accelerator


def _encode_dataset(config: AMGTrainingConfig, dataset, pipe: AMGPipeline, accelerator) -> list[Path]:
    """Latent-cache files of every training clip (VAE and text encoder on the device only meanwhile)."""
    sources = list(iter_clip_sources(dataset))
    if not sources:
        raise MethodError(f"dataset {dataset_label(config.dataset)} split {config.split!r} has no rows")
    pipe.vae.to(accelerator.device)
    pipe.text_encoder.to(accelerator.device)
    default_height, default_width = pipe.default_size()
    paths = build_cache(
        pipe,
        sources,
        config.cache_dir,
        height=config.height or default_height,
        width=config.width or default_width,
        num_frames=config.num_frames,
        shard=(accelerator.process_index, accelerator.num_processes),
    )
    pipe.vae.to("cpu")
    pipe.text_encoder.to("cpu")
    accelerator.wait_for_everyone()
    return paths


def _prepare_optimisation(
    config: AMGTrainingConfig, out: Path, accelerator, pipe: AMGPipeline, paths: list[Path]
) -> TrainingRun:
    """AdamW on the trainable tensors, warm-up + cosine schedule, shuffled cached clips, all prepared."""
    from diffusers.optimization import get_cosine_schedule_with_warmup

    unet = pipe.unet
    params = mark_trainable(unet)
    set_resnet_dropout(unet, config.resnet_dropout)
    if config.gradient_checkpointing:
        enable_block_checkpointing(unet)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    # accelerate steps a prepared scheduler once per process per step; scale to keep the release's per-step schedule
    lr_scheduler = get_cosine_schedule_with_warmup(
        optimizer,
        num_warmup_steps=config.warmup_steps * accelerator.num_processes,
        num_training_steps=config.schedule_steps * accelerator.num_processes,
    )
    loader = torch.utils.data.DataLoader(
        CachedClips(paths), batch_size=config.batch_size, shuffle=True, num_workers=config.num_workers
    )
    unet, optimizer, loader, lr_scheduler = accelerator.prepare(unet, optimizer, loader, lr_scheduler)
    return TrainingRun(config, out, accelerator, pipe, unet, optimizer, lr_scheduler, loader)


def _register_checkpoint_hooks(accelerator) -> None:
    """Make ``save_state`` / ``load_state`` write and read only the trainable tensors of the UNet."""
    from safetensors.torch import load_file, save_file

    def save_hook(models, weights, output_dir):
        if accelerator.is_main_process:
            for model in models:
                state = trainable_state_dict(accelerator.unwrap_model(model))
                save_file(
                    {k: v.detach().cpu().contiguous() for k, v in state.items()}, str(Path(output_dir) / TRAINABLE_FILE)
                )
        weights.clear()

    def load_hook(models, input_dir):
        while models:
            model = accelerator.unwrap_model(models.pop())
            state = load_file(str(Path(input_dir) / TRAINABLE_FILE))
            missing = set(trainable_state_dict(model)) - set(state)
            if missing:
                raise MethodError(f"{input_dir} lacks trainable tensors, e.g. {sorted(missing)[:3]}")
            model.load_state_dict(state, strict=False)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def training_loop(run: TrainingRun) -> None:
    """Optimizer steps from ``run.step`` to ``max_steps``: log every step, checkpoint as configured."""
    config, accelerator = run.config, run.accelerator
    noise_scheduler = run.pipe.scheduler
    steps_per_epoch = len(run.loader)
    run.unet.train()
    while run.step < config.max_steps:
        epoch, skip = divmod(run.step, steps_per_epoch)
        batches = accelerator.skip_first_batches(run.loader, skip) if skip else run.loader
        batches.set_epoch(epoch)
        for batch in batches:
            generator = seed_step(config.seed, run.step, accelerator.process_index, accelerator.device)
            loss = diffusion_loss(run.unet, noise_scheduler, batch, generator)
            accelerator.backward(loss)
            run.optimizer.step()
            run.lr_scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
            run.step += 1
            mean_loss = accelerator.gather(loss.detach().reshape(1)).mean().item()
            record = {"step": run.step, "loss": mean_loss, "lr": run.lr_scheduler.get_last_lr()[0]}
            if accelerator.is_main_process:
                _log_line(run.log_path, record)
            if config.log_with:
                accelerator.log({"loss": record["loss"], "lr": record["lr"]}, step=run.step)
            if run.step % config.checkpoint_every == 0 or run.step == config.max_steps:
                _save_checkpoint(accelerator, run.out, run.step)
            if run.step >= config.max_steps:
                break


def save_final_pipeline(run: TrainingRun) -> Path:
    """Write ``<out>/pipeline`` (atomically, on the main process), end the trackers; return the folder."""
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    final = run.out / "pipeline"
    if accelerator.is_main_process:
        run.pipe.unet = accelerator.unwrap_model(run.unet, keep_fp32_wrapper=False)
        run.pipe.unet.eval()
        with atomic_directory(final, overwrite=True) as tmp:
            run.pipe.save_pretrained(tmp)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def _save_checkpoint(accelerator, out: Path, step: int) -> Path:
    """accelerate state under a temporary name, renamed when every process has written its part."""
    final = out / "checkpoints" / f"{CHECKPOINT_PREFIX}{step:07d}"
    partial = final.with_name(final.name + ".partial")
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(partial / PROGRESS_FILE, {"step": step})
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    accelerator.wait_for_everyone()
    return final
