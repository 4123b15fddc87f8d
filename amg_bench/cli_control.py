"""The control commands: ``amg-bench render`` (a condition from motion files) and ``amg-bench generate`` (one video).

Thin click layers over :func:`amg_bench.condition.render_condition` and
:func:`amg_bench.generate.generate_video`; registered on the main group by :mod:`amg_bench.cli`.
"""

from __future__ import annotations

import click

from .cli_options import method_options


@click.command("render")
@click.option(
    "--motion",
    "motions",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="Motion file: the package's format or an AMASS-layout SMPL npz (one person); repeatable, people together.",
)
@click.option(
    "--camera",
    default="static",
    show_default=True,
    help="static, orbit:DEG, zoom-in, zoom-out, dolly:METRES, or a .npy/.npz of (frames, 4, 4) extrinsics.",
)
@click.option(
    "--appearance-from",
    default=None,
    metavar="DATASET:CLIP_ID",
    help="Give the people the looks (appearance_colors) of that clip's people [default: one flat colour each].",
)
@click.option("--frames", type=click.IntRange(min=1), default=16, show_default=True, help="Output frames.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True)
@click.option(
    "--size", type=click.IntRange(min=16, max=4096), default=256, show_default=True, help="Side of the square frames."
)
@click.option("--start", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Seconds into the motion.")
@click.option(
    "--body-model",
    default="mannequin",
    show_default=True,
    envvar="AMG_BENCH_BODY_MODEL",
    help="'mannequin' or an SMPL / SMPL-X model file (env AMG_BENCH_BODY_MODEL).",
)
@click.option("--pose-out", default=None, type=click.Path(dir_okay=False), help="Also write the DensePose-style video.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Condition video (.mp4); sidecar .npz beside."
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def render_command(motions, camera, appearance_from, frames, fps, size, start, body_model, pose_out, out, overwrite):
    """Render an avatar condition video of new motion under a camera path (plus its motion/camera sidecar)."""
    from .condition import render_condition

    report = render_condition(
        list(motions), out, camera=camera, frames=frames, fps=fps, size=size, appearance_from=appearance_from,
        body_model=body_model, start=start, pose_out=pose_out, overwrite=overwrite,
    )  # fmt: skip
    click.echo(report.summary())


@click.command("generate")
@method_options
@click.option("--prompt", default="", help="The scene caption.")
@click.option(
    "--appearance-prompt", "appearance_prompts", multiple=True, help="One person's appearance caption; repeatable."
)
@click.option("--condition", default=None, type=click.Path(dir_okay=False), help="Avatar condition video.")
@click.option(
    "--reference-frame", default=None, type=click.Path(dir_okay=False), help="Reference image (or a video: frame 0)."
)
@click.option("--pose", default=None, type=click.Path(dir_okay=False), help="DensePose-style pose video.")
@click.option("--video", default=None, type=click.Path(dir_okay=False), help="A real clip (reference methods only).")
@click.option("--frames", "num_frames", type=click.IntRange(min=1), default=None, help="[default: the condition's]")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None, help="[default: the condition's]")
@click.option("--height", type=click.IntRange(min=2, max=4096), default=None, help="[default: the condition's]")
@click.option("--width", type=click.IntRange(min=2, max=4096), default=None, help="[default: the condition's]")
@click.option("--seed", type=int, default=0, show_default=True, help="The request's seed.")
@click.option("--clip-id", default=None, help="The request's clip id [default: the output's file stem].")
@click.option("--device", default=None, help="torch device of the method (its device option).")
@click.option("--dtype", type=click.Choice(["auto", "float32", "float16", "bfloat16"]), default=None)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output video (.mp4).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def generate_command(method, method_config, method_args, appearance_prompts, **values):
    """Generate one video with any registered method from files (the benchmark's GenerationRequest)."""
    from .generate import GenerateConfig, generate_video

    config = GenerateConfig(
        method=method,
        method_config=method_config,
        method_options=method_args,
        appearance_prompts=list(appearance_prompts),
        **values,
    )
    click.echo(generate_video(config).summary())
