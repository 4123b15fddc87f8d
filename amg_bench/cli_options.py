"""Option groups shared by several commands, declared once with one help text each.

``score`` and ``evaluate`` take the same scoring options under the same names; a command applies
a group with ``@clip_options`` / ``@tracking_options`` and hands the values to
:func:`scoring_overrides`, which keeps only what the user gave, so the protocol decides the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .metrics.clip_score import ACTIVATIONS, DEFAULT_MODEL, DEFAULT_PRETRAINED
from .metrics.person_models import DEFAULT_IDENTITY_MODEL, DEFAULT_POSE_MODEL
from .results import DEFAULT_METRIC_GROUPS, METRIC_GROUPS, MOTION_VARIANTS

PROTOCOL_NAMES = ("full", "paper", "offline")
MAX_EVAL_SIDE = 4096


def comma_list(ctx, param, value) -> tuple[str, ...] | None:
    """``"a,b" "c"`` -> ``("a", "b", "c")`` (order kept, duplicates dropped); ``None`` when not given."""
    if value is None or value == ():
        return None
    chunks = value if isinstance(value, tuple) else (value,)
    items = [item.strip() for chunk in chunks if chunk for item in chunk.split(",") if item.strip()]
    return tuple(dict.fromkeys(items))


def _choices(allowed: tuple[str, ...]) -> Callable:
    def check(ctx, param, value):
        items = comma_list(ctx, param, value)
        if items is None:
            return None
        bad = [v for v in items if v not in allowed]
        if bad or not items:
            raise click.BadParameter(f"expected a comma-separated subset of {', '.join(allowed)}, got {value!r}")
        return items

    return check


def eval_size(ctx, param, value) -> tuple[int, int] | None:
    """``HEIGHTxWIDTH`` (each 1 to 4096) -> ``(height, width)``; ``None`` when not given."""
    if value is None:
        return None
    try:
        height, width = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HEIGHTxWIDTH (e.g. 256x256), got {value!r}") from None
    if not (0 < height <= MAX_EVAL_SIDE and 0 < width <= MAX_EVAL_SIDE):
        raise click.BadParameter(f"each side must be between 1 and {MAX_EVAL_SIDE}, got {value!r}")
    return height, width


def _apply(options: list[Callable]) -> Callable:
    def decorate(function: Callable) -> Callable:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _method_args(ctx, param, items) -> dict:
    """``--method-arg`` items as nested options; a malformed one is a usage error."""
    from .errors import MethodError
    from .methods.config import parse_method_args

    try:
        return parse_method_args(items)
    except MethodError as exc:
        raise click.BadParameter(str(exc), param_hint="'--method-arg'") from None


#: ``--method``, ``--config`` and ``--method-arg`` (parsed into nested options).
method_options = _apply([
    click.option("--method", required=True, help="Method name, 'folder:<dir>' or 'module:Class'."),
    click.option("--config", "method_config", default=None, type=click.Path(dir_okay=False, exists=True),
                 help="YAML of method options [default: baselines/<method>.yaml if it exists]."),
    click.option("--method-arg", "method_args", multiple=True, metavar="KEY=VALUE", callback=_method_args,
                 help="Method option over --config (YAML value; dotted keys nest); repeatable."),
])  # fmt: skip


#: ``--protocol`` and ``--metrics``.
protocol_options = _apply([
    click.option("--protocol", type=click.Choice(PROTOCOL_NAMES), default="full", show_default=True,
                 help="full: every clip, CoTracker 3; paper: the AMG paper's (CoTracker v1, DMT variant, 5 clips); "
                      "offline: full with the weight-free KLT tracker. Options below override it (recorded as custom)."),
    click.option("--metrics", default=",".join(DEFAULT_METRIC_GROUPS), show_default=True, callback=_choices(METRIC_GROUPS),
                 help=f"Comma-separated metric groups: {', '.join(METRIC_GROUPS)}."),
])  # fmt: skip

#: ``--tracker``, ``--motion-variant``, ``--grid-size``, ``--eval-size`` and the ``--cotracker-*`` group.
tracking_options = _apply([
    click.option("--tracker", type=click.Choice(["klt", "cotracker"]), default=None,
                 help="Point tracker [default: the protocol's]; klt is a weight-free approximation, never "
                      "comparable with cotracker."),
    click.option("--motion-variant", "motion_variants", default=None, callback=_choices(MOTION_VARIANTS),
                 help="Comma-separated motion-fidelity variants (all from the same tracks) [default: the protocol's]."),
    click.option("--grid-size", type=click.IntRange(min=1, max=512), default=None,
                 help="Query grid per side [default: the protocol's, 55]."),
    click.option("--eval-size", default=None, callback=eval_size,
                 help="HEIGHTxWIDTH both videos are resized to before tracking [default: 256x256]."),
    click.option("--cotracker-model", default=None, help="CoTracker hub entry [default: the protocol's]."),
    click.option("--cotracker-repo", default=None,
                 help="A local clone of facebookresearch/co-tracker (offline use) [default: $AMG_BENCH_COTRACKER_DIR, "
                      "else the GitHub repository]."),
    click.option("--cotracker-checkpoint", default=None, type=click.Path(dir_okay=False),
                 help="CoTracker state-dict file [default: $AMG_BENCH_COTRACKER_CHECKPOINT or the hub download]."),
])  # fmt: skip

#: The ``--clip-*`` group.
clip_options = _apply([
    click.option("--clip-model", default=DEFAULT_MODEL, show_default=True,
                 help="open_clip model, or hf-hub:<repo> / local-dir:<folder>."),
    click.option("--clip-pretrained", default=DEFAULT_PRETRAINED, show_default=True,
                 help="open_clip weights tag or a local weights file."),
    click.option("--clip-dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float32",
                 show_default=True, help="CLIP precision."),
    click.option("--clip-activation", type=click.Choice(ACTIVATIONS), default="auto", show_default=True,
                 help="MLP activation of the CLIP model; auto: QuickGELU for OpenAI's weights."),
])  # fmt: skip


#: The ``--identity-model`` / ``--pose-model`` group (the per-person metrics).
person_options = _apply([
    click.option("--identity-model", default=DEFAULT_IDENTITY_MODEL, show_default=True,
                 help="DINOv2 checkpoint for identity consistency (Hub id or local folder)."),
    click.option("--pose-model", default=DEFAULT_POSE_MODEL, show_default=True,
                 help="VitPose checkpoint for pose accuracy (Hub id or local folder)."),
])  # fmt: skip


def scoring_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """The scoring settings the user gave among a command's option values (the protocol keeps the rest).

    Raises:
        TrackerError: ``--cotracker-*`` options with another tracker.
    """
    from .metrics.tracking import tracker_options

    overrides: dict[str, Any] = {
        "metrics": values["metrics"] or DEFAULT_METRIC_GROUPS,
        "clip_model": values["clip_model"],
        "clip_pretrained": values["clip_pretrained"],
        "clip_dtype": values["clip_dtype"],
        "clip_activation": values["clip_activation"],
    }
    for key in ("identity_model", "pose_model"):
        if values.get(key) is not None:
            overrides[key] = values[key]
    for key in ("tracker", "motion_variants", "grid_size", "eval_size"):
        if values.get(key) is not None:
            overrides[key] = values[key]
    from .evaluation.protocols import get_protocol

    tracker = values.get("tracker") or get_protocol(values["protocol"]).scoring["tracker"]
    given = tracker_options(
        tracker, values.get("cotracker_model"), values.get("cotracker_repo"), values.get("cotracker_checkpoint")
    )
    if given:
        overrides["tracker_options"] = given
    return overrides
