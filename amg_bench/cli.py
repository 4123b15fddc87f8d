"""The ``amg-bench`` command line: a thin click layer over the library.

Every command parses its options and calls one library function. Heavy imports (torch,
datasets, diffusers, open_clip) happen inside the commands so ``amg-bench --help`` is fast.
Expected failures (:class:`amg_bench.errors.AmgBenchError`) print one line and exit 1.
"""

from __future__ import annotations

import sys

import click

from .errors import AmgBenchError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AmgBenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amg-bench")
def main() -> None:
    """amg-bench: the avatar-motion dataset toolkit and benchmark for human video generation."""


@main.command("build-dataset")
@click.option("--manifest", type=click.Path(dir_okay=False), help="YAML manifest of real sources.")
@click.option("--demo", is_flag=True, help="Build from the built-in procedural demo source (offline).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output dataset folder.")
@click.option("--train-size", type=int, default=None,
              help="Valid windows in train (default 5,500; with --demo, the paper's 5,500:288 proportion).")
@click.option("--test-size", type=int, default=None, help="Windows in test (default: all the rest).")
@click.option("--split-gap", is_flag=True, help="Drop test windows that overlap a train window.")
@click.option("--resolution", type=int, default=256, show_default=True, help="Side of the square clips.")
@click.option("--body-model", default="mannequin", show_default=True,
              help="'mannequin' or a path to an SMPL / SMPL-X model file (env AMG_BENCH_BODY_MODEL).",
              envvar="AMG_BENCH_BODY_MODEL")
@click.option("--pose-video", is_flag=True, help="Also write the body-part 'pose_video' column.")
@click.option("--license", "license_", default=None, help="Dataset licence for the card (default: other).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the demo source.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def build_dataset_command(manifest, demo, out, train_size, test_size, split_gap, resolution, body_model,
                          pose_video, license_, seed, overwrite):
    """Build the avatar-motion dataset folder (parquet shards + card), ready for load_dataset/publish."""
    from .data.builder import BuildConfig, build_dataset
    from .data.demo import build_demo_dataset
    from .errors import BuildError

    if bool(manifest) == bool(demo):
        raise BuildError("give exactly one of --manifest FILE or --demo")
    options = dict(test_size=test_size, split_gap=split_gap, resolution=resolution, body_model=body_model,
                   pose_video=pose_video)
    if license_:
        options["license"] = license_
    if demo:
        report = build_demo_dataset(out, seed=seed, train_size=train_size, overwrite=overwrite, **options)
    else:
        if train_size is not None:
            options["train_size"] = train_size
        report = build_dataset(manifest, out, BuildConfig(**options), overwrite=overwrite)
    counts = ", ".join(f"{name} {count}" for name, count in report.splits.items())
    click.echo(f"built {report.folder} ({counts} clips) in {report.seconds:.1f}s; fingerprint {report.fingerprint}")
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
        options = summary.build.get("options", {})
        click.echo("build: " + ", ".join(f"{k}={options[k]}" for k in sorted(options) if k != "windows"))


@main.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="Hub dataset repo, USER/NAME.")
@click.option("--private", is_flag=True, help="Create the repo private.")
@click.option("--revision", default=None, help="Branch to upload to (created if missing).")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded; send nothing.")
def publish(folder, repo_id, private, revision, dry_run):
    """Upload a built dataset folder to the Hugging Face Hub (token from HF_TOKEN or login)."""
    from .data.hub import publish as publish_folder

    plan = publish_folder(folder, repo_id, private=private, revision=revision, dry_run=dry_run)
    verb = "would upload" if dry_run else "uploaded"
    click.echo(f"{verb} {len(plan.files)} files ({plan.total_bytes / 1e6:.1f} MB) to "
               f"datasets/{plan.repo_id}{'@' + plan.revision if plan.revision else ''}"
               f"{' (private)' if plan.private else ''}")
    for name, size in plan.files:
        click.echo(f"  {name}  {size:,} B")


@main.command("leaderboard")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out", required=True, type=click.Path(), help="Output folder (a static site).")
@click.option("--dataset", default=None, help="Dataset folder or Hub id for the gallery's real and avatar videos.")
@click.option("--split", default="test", show_default=True, help="Dataset split of --dataset.")
@click.option("--max-clips", default=8, show_default=True, type=click.IntRange(min=0), help="Gallery clips (0: none).")
@click.option("--reported", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The paper's reported table [default: the package's leaderboard/reported.json].")
@click.option("--no-reported", is_flag=True, help="Leave out the paper's reported block.")
@click.option("--rank-by", default="motion_fidelity_dmt", show_default=True,
              type=click.Choice(["clip_score", "motion_fidelity_chamfer", "motion_fidelity_dmt"]),
              help="Metric that orders rows inside each protocol group.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def leaderboard(results, out, dataset, split, max_clips, reported, no_reported, rank_by, overwrite) -> None:
    """Build the leaderboard (Markdown, CSV, PNG, HTML + gallery) from RESULTS files or run folders."""
    from .leaderboard import DEFAULT_REPORTED, build_leaderboard

    if no_reported and reported:
        raise click.UsageError("--reported and --no-reported exclude each other")
    path = build_leaderboard(
        results, out, dataset=dataset, split=split, max_clips=max_clips,
        reported=None if no_reported else (reported or DEFAULT_REPORTED), rank_by=rank_by, overwrite=overwrite,
    )
    click.echo(f"leaderboard written to {path}")
