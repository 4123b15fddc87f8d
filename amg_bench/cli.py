"""The ``amg-bench`` command line: a thin click layer over the library.

Every command parses its options and calls one library function. Heavy imports (torch,
datasets, diffusers, open_clip) happen inside the commands so ``amg-bench --help`` is fast.
Expected failures (:class:`amg_bench.errors.AmgBenchError`) print one line and exit 1.
"""

from __future__ import annotations

import sys

import click

from .cli_control import generate_command, render_command
from .cli_options import (
    clip_options,
    comma_list,
    method_options,
    person_options,
    protocol_options,
    scoring_overrides,
    tracking_options,
)
from .errors import AmgBenchError
from .results import METRICS


class _Group(click.Group):
    """Expected failures (the toolkit's own errors, and the file system's) end in one ``error:`` line and exit 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (AmgBenchError, OSError) as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            sys.exit(1)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (an OSError with its file name)."""
    if isinstance(exc, OSError) and not isinstance(exc, AmgBenchError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amg-bench")
def main() -> None:
    """amg-bench: the avatar-motion dataset toolkit and benchmark for human video generation."""


@main.command("build-dataset")
@click.option("--manifest", type=click.Path(dir_okay=False), help="YAML manifest of real sources.")
@click.option("--demo", is_flag=True, help="Build from the built-in procedural demo source (offline).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output dataset folder.")
@click.option(
    "--train-size",
    type=click.IntRange(min=0),
    default=None,
    help="Valid windows in train (default 5,500; with --demo, the paper's 5,500:288 proportion).",
)
@click.option("--test-size", type=click.IntRange(min=1), default=None, help="Windows in test (default: all the rest).")
@click.option("--split-gap", is_flag=True, help="Drop test windows that overlap a train window.")
@click.option("--resolution", type=int, default=256, show_default=True, help="Side of the square clips.")
@click.option(
    "--window-stride",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Candidate starts every K source frames (1: every frame, the paper's).",
)
@click.option(
    "--body-model",
    default="mannequin",
    show_default=True,
    help="'mannequin' or a path to an SMPL / SMPL-X model file (env AMG_BENCH_BODY_MODEL).",
    envvar="AMG_BENCH_BODY_MODEL",
)
@click.option("--pose-video", is_flag=True, help="Also write the body-part 'pose_video' column.")
@click.option(
    "--avatar-style",
    type=click.Choice(["appearance", "flat"]),
    default="appearance",
    show_default=True,
    help="appearance: each body part in the colour measured on the real frames; flat: one colour per person.",
)
@click.option(
    "--controls", is_flag=True, help="Add the 'controls' split: test motions under new camera paths, reversed."
)
@click.option("--license", "license_", default=None, help="Dataset licence for the card (default: other).")
@click.option("--license-name", default=None, help="With --license other: the terms' short name for the card.")
@click.option("--license-link", default=None, help="With --license other: a URL or repo file with the terms.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the demo source.")
@click.option(
    "--num-proc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes, one build unit (a source or a chunk of one) each; same output as 1.",
)
@click.option(
    "--chunk-windows",
    type=click.IntRange(min=1),
    default=2048,
    show_default=True,
    help="Most windows per build unit (the grain of --num-proc and of resuming).",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Build only the I-th (0..N-1) of N source groups into --out; join the parts with merge-shards.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder and drop a killed build's work.")
def build_dataset_command(
    manifest,
    demo,
    out,
    train_size,
    test_size,
    split_gap,
    resolution,
    window_stride,
    body_model,
    pose_video,
    avatar_style,
    controls,
    license_,
    license_name,
    license_link,
    seed,
    num_proc,
    chunk_windows,
    shard,
    overwrite,
):
    """Build the avatar-motion dataset folder (parquet shards + card), ready for load_dataset/publish.

    A killed build resumes when the same command runs again: finished units are kept.
    """
    from .data.builder import BuildConfig, build_dataset, parse_shard
    from .data.demo import build_demo_dataset
    from .data.windows import WindowSpec

    if bool(manifest) == bool(demo):
        raise click.UsageError("give exactly one of --manifest FILE or --demo")
    options = dict(
        test_size=test_size,
        split_gap=split_gap,
        resolution=resolution,
        windows=WindowSpec(stride=window_stride),
        body_model=body_model,
        pose_video=pose_video,
        avatar_style=avatar_style,
        controls=controls,
        chunk_windows=chunk_windows,
        license_name=license_name,
        license_link=license_link,
    )
    if license_:
        options["license"] = license_
    run = dict(overwrite=overwrite, num_proc=num_proc, shard=parse_shard(shard) if shard else None)
    if demo:
        report = build_demo_dataset(out, seed=seed, train_size=train_size, **run, **options)
    else:
        if train_size is not None:
            options["train_size"] = train_size
        report = build_dataset(manifest, out, BuildConfig(**options), **run)
    counts = ", ".join(f"{name} {count}" for name, count in report.splits.items()) or "no"
    reused = f"; {report.units_reused} finished unit(s) kept from a previous run" if report.units_reused else ""
    if report.part is not None:
        index, count = report.part
        click.echo(
            f"built part {index}/{count} in {report.folder} ({counts} clips) in {report.seconds:.1f}s{reused}; "
            f"join all {count} parts with: amg-bench merge-shards OUT PART..."
        )
        return
    click.echo(
        f"built {report.folder} ({counts} clips) in {report.seconds:.1f}s; fingerprint {report.fingerprint}{reused}"
    )
    click.echo(f'load it with: datasets.load_dataset("{report.folder}")')


main.add_command(render_command)
main.add_command(generate_command)


@main.command("merge-shards")
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("parts", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT.")
def merge_shards_command(out, parts, overwrite):
    """Join the PARTS of a `build-dataset --shard I/N` build into the dataset OUT (checked, same as one build)."""
    from .data.builder import merge_shards

    report = merge_shards(out, parts, overwrite=overwrite)
    counts = ", ".join(f"{name} {count}" for name, count in report.splits.items())
    click.echo(f"merged {len(parts)} parts into {report.folder} ({counts} clips); fingerprint {report.fingerprint}")
    click.echo(f'load it with: datasets.load_dataset("{report.folder}")')


@main.command()
@click.argument("dataset")
@click.option("--revision", default=None, help="Hub revision (branch, tag or commit).")
def info(dataset, revision):
    """Show a built folder's or Hub repo's splits, counts, columns and card summary."""
    from .data.hub import dataset_info

    summary = dataset_info(dataset, revision=revision)
    click.echo(f"dataset: {summary.location}")
    for name, count in summary.splits.items():
        click.echo(f"  {name}: {count} clips")
    click.echo(f"columns: {', '.join(summary.columns)}")
    for key, value in summary.card.items():
        click.echo(f"{key}: {value}")
    if summary.build:
        click.echo(f"fingerprint: {summary.build.get('fingerprint')}")
        options = summary.build.get("options") or {}
        if isinstance(options, dict):
            click.echo("build: " + ", ".join(f"{k}={options[k]}" for k in sorted(options) if k != "windows"))


@main.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="Hub dataset repo, USER/NAME.")
@click.option("--private", is_flag=True, help="Make the repo private (a new one, or an existing public one).")
@click.option("--revision", default=None, help="Branch to upload to (created if missing).")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded and deleted; change nothing.")
def publish(folder, repo_id, private, revision, dry_run):
    """Upload a built dataset folder to the Hugging Face Hub in one commit (token from HF_TOKEN or login).

    Only the card, the build info and the shards it lists are sent (sha256 checked); data/ files
    an older build left in the repo are deleted in the same commit.
    """
    from .data.hub import publish as publish_folder

    plan = publish_folder(folder, repo_id, private=private, revision=revision, dry_run=dry_run)
    verb = "would upload" if dry_run else "uploaded"
    click.echo(
        f"{verb} {len(plan.files)} files ({plan.total_bytes / 1e6:.1f} MB) to "
        f"datasets/{plan.repo_id}{'@' + plan.revision if plan.revision else ''}"
        f"{' (private)' if plan.private else ''}"
        + (f", {'would delete' if dry_run else 'deleted'} {len(plan.delete)} stale file(s)" if plan.delete else "")
    )
    for name, size in plan.files:
        click.echo(f"  {name}  {size:,} B")
    for name in plan.delete:
        click.echo(f"  - {name}")
    for note in plan.notes:
        click.echo(f"warning: {note}", err=True)


@main.command("leaderboard")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out", required=True, type=click.Path(), help="Output folder (a static site).")
@click.option("--dataset", default=None, help="Dataset folder or Hub id for the gallery's real and avatar videos.")
@click.option("--split", default="test", show_default=True, help="Dataset split of --dataset.")
@click.option("--max-clips", default=8, show_default=True, type=click.IntRange(min=0), help="Gallery clips (0: none).")
@click.option(
    "--reported",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The paper's reported table [default: the package's leaderboard/reported.json].",
)
@click.option("--no-reported", is_flag=True, help="Leave out the paper's reported block.")
@click.option(
    "--rank-by",
    default="motion_fidelity_dmt",
    show_default=True,
    type=click.Choice(list(METRICS)),
    help="Metric that orders the methods inside each protocol group.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def leaderboard(results, out, dataset, split, max_clips, reported, no_reported, rank_by, overwrite) -> None:
    """Build the leaderboard (Markdown, CSV, PNG, HTML + gallery) from RESULTS files or run folders."""
    from .leaderboard import DEFAULT_REPORTED, build_leaderboard

    if no_reported and reported:
        raise click.UsageError("--reported and --no-reported exclude each other")
    path = build_leaderboard(
        results,
        out,
        dataset=dataset,
        split=split,
        max_clips=max_clips,
        reported=None if no_reported else (reported or DEFAULT_REPORTED),
        rank_by=rank_by,
        overwrite=overwrite,
    )
    click.echo(f"leaderboard written to {path}")


@main.command("score")
@click.option("--reference", required=True, type=click.Path(dir_okay=False), help="Reference (real) video file.")
@click.option("--generated", required=True, type=click.Path(dir_okay=False), help="Generated video file.")
@click.option("--prompt", default="", help="Caption the generated video is scored against (needed for CLIP).")
@protocol_options
@tracking_options
@clip_options
@click.option("--device", default="cpu", show_default=True, help="torch device for CLIP and CoTracker.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def score(reference, generated, prompt, device, as_json, **values) -> None:
    """Score one generated video: CLIP score against --prompt and motion fidelity against the reference."""
    import json

    from .evaluation.protocols import protocol_scoring
    from .evaluation.scoring import score_pair

    settings = protocol_scoring(values["protocol"], **scoring_overrides(values))
    report = score_pair(reference, generated, prompt, settings, device=device)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.to_text())


@main.group("convert")
def convert_group() -> None:
    """Convert released checkpoints into pipeline folders the methods load."""


@convert_group.command("amg")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--base",
    default="hub:damo-vilab/text-to-video-ms-1.7b",
    show_default=True,
    help="ModelScope text-to-video base (folder or Hub id): text encoder, tokenizer, VAE, UNet config.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output pipeline folder.")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16"]),
    default="float32",
    show_default=True,
    help="dtype the folder is saved in.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def convert_amg(checkpoint, base, out, dtype, overwrite) -> None:
    """Convert the released AMG checkpoint (VGen format, e.g. non_ema_0640000.pth) to an AMGPipeline folder.

    CHECKPOINT is a pickle; it is read with torch.load(weights_only=True) because you named it.
    """
    from .methods.amg.convert import convert_release_checkpoint

    path = convert_release_checkpoint(checkpoint, out, base=base, dtype=dtype, overwrite=overwrite)
    click.echo(f"AMG pipeline written to {path}")


@convert_group.command("magicanimate")
@click.argument("ckpt_dir")
@click.option(
    "--base",
    default="hub:stable-diffusion-v1-5/stable-diffusion-v1-5",
    show_default=True,
    help="Stable Diffusion 1.5 (folder or hub:<owner>/<name>): UNet, text encoder, tokenizer.",
)
@click.option("--vae", default="hub:stabilityai/sd-vae-ft-mse", show_default=True, help="The VAE (folder or hub: id).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output pipeline folder.")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16"]),
    default="float32",
    show_default=True,
    help="dtype the folder is saved in.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def convert_magicanimate(ckpt_dir, base, vae, out, dtype, overwrite) -> None:
    """Convert the MagicAnimate release (CKPT_DIR: `hf download zcxu-eric/MagicAnimate --local-dir CKPT_DIR`) to a pipeline folder.

    Its temporal_attention/temporal_attention.ckpt is a pickle; it is read with torch.load(weights_only=True)
    because you named it.
    """
    from .methods.magicanimate.convert import convert_release

    report = convert_release(ckpt_dir, out, base=base, vae=vae, dtype=dtype, overwrite=overwrite)
    click.echo(
        f"MagicAnimate pipeline written to {report.folder} ({report.motion_tensors} motion-module tensors; "
        f"spatial UNet weights from {report.spatial_from})"
    )


@main.group("train")
def train_group() -> None:
    """Train built-in methods on the benchmark dataset (multi-GPU: `accelerate launch $(which amg-bench) train ...`)."""


@train_group.command("amg")
@click.option("--dataset", required=True, help="Dataset folder or Hub id.")
@click.option(
    "--base",
    default="hub:damo-vilab/text-to-video-ms-1.7b",
    show_default=True,
    help="ModelScope base (fresh LoRA) or an AMG pipeline folder (continue training).",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Run folder (checkpoints, log, pipeline/)."
)
@click.option("--split", default="train", show_default=True)
@click.option("--max-steps", type=click.IntRange(min=1), default=40_000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Per process.")
@click.option("--learning-rate", type=float, default=1e-6, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--resume", default=None, help="'latest' or a checkpoint folder of this run.")
@click.option("--log-with", multiple=True, help="accelerate tracker (tensorboard, wandb, ...); repeatable.")
@click.option(
    "--mixed-precision",
    type=click.Choice(["auto", "no", "fp16", "bf16"]),
    default="auto",
    show_default=True,
    help="auto: fp16 on GPU, none on CPU.",
)
@click.option("--no-gradient-checkpointing", is_flag=True, help="Keep activations (faster, more memory).")
@click.option(
    "--cache-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Content cache root holding the latents [default: $AMG_BENCH_CACHE, else ~/.cache/amg_bench].",
)
@click.option("--num-workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--seed", type=int, default=8888, show_default=True)
@click.option("--overwrite", is_flag=True, help="Start again in an --out that holds a run.")
def train_amg_command(
    dataset,
    base,
    out,
    split,
    max_steps,
    batch_size,
    learning_rate,
    warmup_steps,
    checkpoint_every,
    resume,
    log_with,
    mixed_precision,
    no_gradient_checkpointing,
    cache_dir,
    num_workers,
    seed,
    overwrite,
) -> None:
    """Fine-tune AMG (LoRA + first conv) on a dataset with the release's recipe."""
    from .training.amg import AMGTrainingConfig, train_amg

    final = train_amg(
        AMGTrainingConfig(
            dataset=dataset,
            out=out,
            base=base,
            split=split,
            max_steps=max_steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_steps=warmup_steps,
            checkpoint_every=checkpoint_every,
            resume=resume,
            log_with=log_with,
            mixed_precision=mixed_precision,
            gradient_checkpointing=not no_gradient_checkpointing,
            cache_dir=cache_dir,
            num_workers=num_workers,
            seed=seed,
            overwrite=overwrite,
        )
    )
    click.echo(f"AMG pipeline written to {final}")


@main.command("evaluate")
@method_options
@click.option("--dataset", required=True, help="Built dataset folder or Hub id.")
@click.option("--split", default="test", show_default=True)
@click.option("--revision", default=None, help="Hub revision (branch, tag or commit).")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Run folder [default: runs/<method>].")
@protocol_options
@tracking_options
@clip_options
@person_options
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N clips (dataset order).")
@click.option("--clips", multiple=True, callback=comma_list, help="Only these clip ids (comma-separated; repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed (each clip adds crc32 of its id).")
@click.option("--device", default=None, help="torch device [default: this process's accelerate device].")
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "float16", "bfloat16"]),
    default=None,
    help="The method's dtype option, when it has one [default: the method's own].",
)
@click.option(
    "--body-model",
    default="mannequin",
    show_default=True,
    envvar="AMG_BENCH_BODY_MODEL",
    help="Body model of the dataset's motion, for the person masks (env AMG_BENCH_BODY_MODEL).",
)
@click.option(
    "--cache-dir",
    default=None,
    envvar="AMG_BENCH_CACHE",
    type=click.Path(file_okay=False),
    help="Content cache [default: $AMG_BENCH_CACHE, else $XDG_CACHE_HOME/amg_bench or ~/.cache/amg_bench].",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def evaluate_command(
    method,
    method_config,
    method_args,
    dataset,
    split,
    revision,
    out,
    limit,
    clips,
    seed,
    device,
    dtype,
    body_model,
    cache_dir,
    no_progress,
    **values,
) -> None:
    """Generate the split with a method, score every clip, write results.json (resumable, shardable).

    Exits 1 when any clip failed, after writing everything. Shard it by launching the same command
    in several processes: `accelerate launch $(which amg-bench) evaluate ...` or
    `torchrun --nproc_per_node N $(which amg-bench) evaluate ...`.
    """
    from .evaluation.protocols import protocol_scoring
    from .evaluation.runner import EvaluationConfig, evaluate

    config = EvaluationConfig(
        method=method, dataset=dataset, split=split, revision=revision, out=out, protocol=values["protocol"],
        scoring=protocol_scoring(values["protocol"], **scoring_overrides(values)), method_config=method_config,
        method_options=method_args, limit=limit, clips=list(clips or ()) or None, seed=seed,
        device=device, dtype=dtype, body_model=body_model, cache_dir=cache_dir, progress=not no_progress,
    )  # fmt: skip
    summary = evaluate(config)
    if not summary.main_process:  # the main process prints the summary
        if summary.failures:
            sys.exit(1)
        return
    results = summary.results
    click.echo(
        f"results: {summary.out / 'results.json'} (protocol {results.protocol.name}, {results.num_clips} "
        f"clips; {summary.already_finished} already finished, {summary.processed} processed now)"
    )
    for key, value in results.metrics.items():
        interval = "no interval: 1 source" if value.ci95 is None else f"95% CI {value.ci95[0]:.2f}, {value.ci95[1]:.2f}"
        click.echo(f"  {key}: {value.mean:.2f} [{interval}] (n={value.n}, {value.n_sources} sources)")
    if summary.failures:
        click.echo(f"{len(summary.failures)} clip(s) failed:", err=True)
        for failure in summary.failures:
            click.echo(f"  {failure.clip_id}: {failure.reason}", err=True)
        sys.exit(1)


@main.command()
@click.option(
    "--dataset",
    default="demo_data/avatar-motion-demo",
    show_default=True,
    help="Where the demo dataset is (built there if absent).",
)
@click.option("--runs", default="runs/demo", show_default=True, help="Folder of the evaluation runs.")
@click.option("--out", default="leaderboard/demo", show_default=True, help="Leaderboard folder.")
@click.option(
    "--grid-size", type=click.IntRange(min=1, max=512), default=55, show_default=True, help="Tracking grid per side."
)
def demo(dataset, runs, out, grid_size):
    """Build the demo dataset, evaluate the reference and calibration methods offline, write the leaderboard."""
    from .demo import run_demo

    report = run_demo(dataset, runs, out, grid_size=grid_size, say=click.echo)
    if report.failures:
        raise click.ClickException(f"clips failed: {report.failures}")


def _track_groups(ctx, param, value):
    groups = []
    for text in value:
        try:
            groups.append(tuple(int(item) for item in text.replace("+", ",").split(",") if item.strip()))
        except ValueError:
            raise click.BadParameter(f"expected track ids like 3,7 or 3+7, got {text!r}") from None
    return tuple(groups)


@main.command("import-trace")
@click.argument("trace_results", type=click.Path(dir_okay=False))
@click.option("--video", required=True, type=click.Path(dir_okay=False), help="The video TRACE ran on (24 fps).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Motion file to write (.npz).")
@click.option(
    "--body-model",
    default="mannequin",
    show_default=True,
    envvar="AMG_BENCH_BODY_MODEL",
    help="'mannequin' or an SMPL / SMPL-X file or folder (env AMG_BENCH_BODY_MODEL); build with the same.",
)
@click.option(
    "--merge",
    multiple=True,
    callback=_track_groups,
    metavar="IDS",
    help="Track ids that are one person, e.g. 3,7 (TRACE gives a re-appearing person a new id); repeatable.",
)
@click.option("--keep", type=click.IntRange(min=1), default=None, help="Keep only the N best persons (see --rank-by).")
@click.option(
    "--rank-by",
    type=click.Choice(["frames", "size"]),
    default="frames",
    show_default=True,
    help="What --keep ranks by: frames tracked, or median 2D size.",
)
@click.option(
    "--min-frames",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Drop persons tracked in fewer frames (46 drops those shorter than one window).",
)
@click.option(
    "--extrinsics",
    type=click.Path(dir_okay=False),
    default=None,
    help=".npy of (frames, 4, 4) world-to-camera matrices (wins over TRACE's world outputs).",
)
@click.option(
    "--static-camera",
    is_flag=True,
    help="Ignore TRACE's world outputs: identity extrinsics, the world is the camera's frame "
    "[default: the camera derived from them when the file has them].",
)
@click.option(
    "--min-center-conf",
    type=click.FloatRange(min=0),
    default=None,
    help="Drop rows whose TRACE center_confs is below this (occluded frames TRACE filled from memory).",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def import_trace_command(
    trace_results,
    video,
    out,
    body_model,
    merge,
    keep,
    rank_by,
    min_frames,
    extrinsics,
    static_camera,
    min_center_conf,
    overwrite,
):
    """Convert TRACE_RESULTS (TRACE's <video>.npz, a pickle read because you name it) into a motion file."""
    from .data.sources.trace import import_trace

    if static_camera and extrinsics:
        raise click.UsageError("--static-camera and --extrinsics exclude each other")
    result = import_trace(
        trace_results,
        video,
        out,
        body_model=body_model,
        merge=merge,
        keep=keep,
        rank_by=rank_by,
        min_frames=min_frames,
        extrinsics=extrinsics,
        camera="static" if static_camera else "auto",
        min_center_conf=min_center_conf,
        overwrite=overwrite,
    )
    click.echo(result.summary())


@main.command("caption")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option(
    "--model",
    default="llava-hf/llava-1.5-7b-hf",
    show_default=True,
    help="Image-text-to-text model: Hub id or local folder (offline: HF_HUB_OFFLINE=1 and a cached copy).",
)
@click.option(
    "--body-model",
    default="mannequin",
    show_default=True,
    envvar="AMG_BENCH_BODY_MODEL",
    help="Body model of the motions (for the appearance boxes); env AMG_BENCH_BODY_MODEL.",
)
@click.option("--device", default=None, help="torch device [default: cuda if available, else cpu].")
@click.option(
    "--dtype", type=click.Choice(["auto", "float32", "float16", "bfloat16"]), default="auto", show_default=True
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=120, show_default=True)
@click.option(
    "--cache-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Content cache root holding the captions [default: $AMG_BENCH_CACHE, else ~/.cache/amg_bench].",
)
@click.option("--overwrite", is_flag=True, help="Re-write captions files that exist (cached captions are reused).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def caption_command(
    manifest, model, body_model, device, dtype, batch_size, max_new_tokens, cache_dir, overwrite, no_progress
):
    """Write the captions files MANIFEST names, asking a vision-language model the paper's two questions."""
    from .data.captioner import caption_manifest

    for result in caption_manifest(
        manifest,
        model=model,
        body_model=body_model,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        cache_dir=cache_dir,
        overwrite=overwrite,
        progress=not no_progress,
    ):
        if result.stats is None:
            click.echo(f"{result.source_id}: kept existing {result.path} (--overwrite replaces it)")
        else:
            s = result.stats
            click.echo(
                f"{result.source_id}: wrote {result.path} ({s.scene_frames} scene frames, {s.people} "
                f"person(s); {s.generated} generated, {s.cached} from cache)"
            )
