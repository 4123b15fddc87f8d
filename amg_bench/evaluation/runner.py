"""``evaluate``: generate every test clip with a method, score it, and aggregate into ``results.json``.

Steps (each process of a sharded run does 1-6 on its share, the main process then does 7):

1. open the split (videos left encoded) and select the clips, sorted by id;
2. resolve the method and refuse a dataset lacking a column it requires, before any work;
3. check the run folder's settings (a resume must use the same ones);
4. load the metrics, then build the method (missing weights fail here, before any generation);
5. take this process's share ``clips[rank::world_size]`` and drop finished clips;
6. per clip: request -> ``generate`` -> :func:`~amg_bench.methods.base.check_output` -> score
   the method's frames -> ``videos/<clip_id>.mp4`` -> record (the record marks it finished).
   The frames are scored as the method returned them, not after an H.264 round trip (so
   ``ground-truth`` scores exactly the real clip); a clip stopped before its record is generated
   again. A method error or a malformed output fails the clip (with the reason) and the run goes on;
7. wait for every process, merge the records sorted by clip id into ``scores.jsonl`` and
   ``results.json`` (bootstrap over the sorted clips with a fixed seed), so the results do not
   depend on sharding or resuming.

Sharding uses ``accelerate.PartialState``: run the same command under ``accelerate launch`` or
``torchrun`` and each process takes its share.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AmgBenchError
from ..files import write_json
from ..methods.base import Method, check_output
from ..video import write_video
from .aggregate import DEFAULT_BOOTSTRAP_SEED, DEFAULT_RESAMPLES, summarize_metrics
from .cache import default_cache_dir
from .dataset import BenchmarkSplit, ClipInputs, check_columns, clip_seed, open_split, select_clips
from .provenance import package_versions, utc_now
from .run_folder import VIDEOS_DIR, RunFolder
from .scoring import ClipScorer, ScoringSettings, Stopwatch

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_CRF = 18


@dataclass
class EvaluationConfig:
    """One evaluation run.

    Attributes:
        method: registry name, ``folder:<dir>`` or ``module:Class``.
        dataset: built folder or Hub id; ``split``/``revision`` select within it.
        out: the run folder.
        method_config: YAML file of method options (default: ``baselines/<method>.yaml`` if it exists);
            ``method_options`` are merged over it (see :mod:`amg_bench.methods.config`).
        scoring: metrics and their settings.
        limit: evaluate only the first ``limit`` clips (dataset order); ``clips``: only these ids.
        seed: base seed; clip ``c`` gets :func:`~amg_bench.evaluation.dataset.clip_seed` ``(seed, c)``.
        device: torch device of the metrics (default: this process's accelerate device); when given,
            also the method's ``device`` option if it has one and the options do not set it.
        dtype: the method's ``dtype`` option, if it has one and the options do not set it (default:
            the method's own; CLIP's precision is ``scoring.clip_dtype``).
        cache_dir: reference-track / caption-embedding cache (default
            :func:`~amg_bench.evaluation.cache.default_cache_dir`).
        crf: H.264 quality of the stored videos (libx264, yuv420p).
        progress: show a progress bar.
    """

    method: str
    dataset: str
    out: str | os.PathLike
    split: str = "test"
    revision: str | None = None
    method_config: str | os.PathLike | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    limit: int | None = None
    clips: list[str] | None = None
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    cache_dir: str | os.PathLike | None = None
    crf: int = DEFAULT_CRF
    progress: bool = True


@dataclass
class EvaluationSummary:
    """What a run did: the results (all processes), and this process's work and stage timings.

    ``already_finished`` clips were skipped; ``processed`` were generated and scored now, of which
    ``failed_now`` failed.
    """

    out: Path
    results: dict[str, Any]
    num_clips: int
    already_finished: int
    processed: int
    failed_now: int
    seconds: dict[str, float]
    cache: dict[str, dict[str, int]]
    main_process: bool = True

    @property
    def failures(self) -> list[dict[str, str]]:
        return self.results["failures"]

    @property
    def ok(self) -> bool:
        return not self.failures


def evaluate(config: EvaluationConfig, state: Any = None) -> EvaluationSummary:
    """Run (or resume) an evaluation; see the module docstring for the steps.

    Args:
        config: the run.
        state: an ``accelerate.PartialState`` (default: a new one, CPU when ``device`` is cpu).

    Returns:
        The summary; ``summary.failures`` lists failed clips (the CLI then exits non-zero).

    Raises:
        DatasetError: bad dataset, split or clip selection.
        MethodError: unknown method, bad options, or a column the method requires is missing.
        OutputExistsError: ``out`` holds a run with other settings.
        MissingWeightsError, MetricError, TrackerError: the metrics cannot be built.
    """
    from accelerate import PartialState

    started = time.perf_counter()
    if state is None:
        state = PartialState(cpu=str(config.device or "").startswith("cpu"))
    device = str(config.device or state.device)
    watch = Stopwatch()
    run = RunFolder(config.out)

    # 1. Dataset and clips
    with state.main_process_first():
        split = open_split(config.dataset, config.split, config.revision)
    clips = select_clips(split, config.clips, config.limit)

    # 2. Method: its class is checked against the dataset's columns before it is built (which may load weights)
    cls, options, config_file = _resolve_method(config)
    check_columns(split, cls.requires, config.method)

    # 3. Settings of the run folder
    run.check_settings(
        {
            "method": {
                "name": config.method,
                "options": _jsonable(options),
                "config_file": str(config_file) if config_file else None,
            },
            "dataset": {"id": split.id, "split": split.split, "fingerprint": split.fingerprint},
            "scoring": config.scoring.to_dict(),
            "seed": config.seed,
            "dtype": config.dtype,
            "crf": config.crf,
        },
        write=state.is_main_process,
    )

    # 4. Metrics, then the method (weights load here; a missing metric weight fails before the method loads)
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    scorer = ClipScorer(config.scoring, cache_dir, device, watch)
    method = _build_method(config.method, cls, options, config.device, config.dtype)
    check_columns(split, method.requires, config.method)
    method_record = {
        "name": config.method,
        "options": _jsonable(method.options_dict()),
        "requires": sorted(method.requires),
        "uses_prompt": bool(method.uses_prompt),
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "config_file": str(config_file) if config_file else None,
    }

    # 5. This process's share
    mine = clips[state.process_index :: state.num_processes]
    pending = [clip_id for clip_id in mine if not run.is_finished(clip_id)]

    # 6. Clips
    failed = 0
    if pending:
        method.prepare(pending)
    from tqdm.auto import tqdm

    label = f"evaluate {config.method}" + (f" [{state.process_index}]" if state.num_processes > 1 else "")
    with tqdm(
        total=len(mine),
        initial=len(mine) - len(pending),
        desc=label,
        unit="clip",
        disable=not config.progress,
        position=state.process_index if state.num_processes > 1 else None,
    ) as bar:
        for clip_id in pending:
            bar.set_postfix_str(clip_id)
            failed += not _process_clip(clip_id, split, method, config, scorer, run, watch)
            bar.update()

    # 7. Merge
    state.wait_for_everyone()
    if state.is_main_process:
        _write_results(run, clips, split, method_record, scorer, config)
    state.wait_for_everyone()
    results = json.loads(run.results_path.read_text(encoding="utf-8"))
    seconds = {**watch.seconds, "total": time.perf_counter() - started}
    cache = {}
    if scorer.track_cache is not None:
        cache["reference_tracks"] = {"hits": scorer.track_cache.hits, "misses": scorer.track_cache.misses}
    if scorer.text_cache is not None:
        cache["captions"] = {"hits": scorer.text_cache.hits, "misses": scorer.text_cache.misses}
    return EvaluationSummary(
        run.root,
        results,
        len(clips),
        len(mine) - len(pending),
        len(pending),
        failed,
        seconds,
        cache,
        state.is_main_process,
    )


def _resolve_method(config: EvaluationConfig) -> tuple[type[Method], dict[str, Any], Path | None]:
    """The method's class, its options (YAML file merged with ``method_options``) and the file."""
    from ..methods.config import merge_options, resolve_options
    from ..methods.registry import resolve_method_class

    cls = resolve_method_class(config.method)
    file_options, config_file = resolve_options(config.method, config.method_config)
    return cls, merge_options(file_options, config.method_options), config_file


def _build_method(
    name: str, cls: type[Method], options: dict[str, Any], device: str | None, dtype: str | None
) -> Method:
    """The method instance, its weights loaded.

    ``device`` / ``dtype`` (when given) fill the method's ``device`` / ``dtype`` options when it
    declares such fields and ``options`` do not set them.
    """
    import dataclasses

    from ..methods.registry import get_method

    fields = {f.name for f in dataclasses.fields(cls.Options)}
    extra = {
        key: value
        for key, value in (("device", device), ("dtype", dtype))
        if value is not None and key in fields and key not in options
    }
    method = get_method(name, **options, **extra)
    method.load()
    return method


def _process_clip(
    clip_id: str,
    split: BenchmarkSplit,
    method: Method,
    config: EvaluationConfig,
    scorer: ClipScorer,
    run: RunFolder,
    watch: Stopwatch,
) -> bool:
    """Generate, score, store and record one unfinished clip; returns whether it succeeded.

    The record is written last: it marks the clip finished. A clip whose video exists without a
    record (a run stopped in between) is generated again, so what is scored is always the
    method's own output, never a re-decoded copy.
    """
    seed = clip_seed(config.seed, clip_id)
    record: dict[str, Any] = {"clip_id": clip_id, "seed": seed, "failure": None}
    inputs = ClipInputs(split.row(clip_id))
    video_path = run.video_path(clip_id)
    try:
        with watch("decode"):
            request = inputs.request(method.requires, seed)
        method.check_request(request)
        with watch("generate"):
            video = method.generate(request)
        check_output(video, request, config.method)
    except Exception as exc:  # any error of the method's code fails this clip only
        video_path.unlink(missing_ok=True)  # a video from an earlier attempt is not this run's output
        return _fail(run, record, "generate", exc)
    try:
        record.update(scorer.score(video, inputs.caption, inputs.video_bytes("video"), lambda: _decode(inputs, watch)))
    except AmgBenchError as exc:
        video_path.unlink(missing_ok=True)
        return _fail(run, record, "score", exc)
    with watch("encode"):
        write_video(video_path, video, request.fps, crf=config.crf)
    run.write_record(record)
    return True


def _decode(inputs: ClipInputs, watch: Stopwatch):
    with watch("decode"):
        return inputs.frames("video")


def _fail(run: RunFolder, record: dict[str, Any], stage: str, exc: Exception) -> bool:
    reason = f"{stage}: {type(exc).__name__}: {exc}"
    logger.warning("clip %s failed at %s", record["clip_id"], reason)
    run.write_record({**record, "failure": reason})
    return False


def _write_results(
    run: RunFolder,
    clips: list[str],
    split: BenchmarkSplit,
    method_record: dict[str, Any],
    scorer: ClipScorer,
    config: EvaluationConfig,
) -> dict[str, Any]:
    """Merge every clip's record into ``scores.jsonl`` and ``results.json`` (sorted by clip id)."""
    records = []
    for clip_id in clips:
        record = run.read_record(clip_id)
        if record is None:
            record = {"clip_id": clip_id, "failure": "merge: no score record (a process stopped before this clip)"}
        records.append(record)
    run.write_scores(records)
    first = split.row(clips[0])
    results = {
        "schema_version": SCHEMA_VERSION,
        "method": method_record,
        "dataset": {"id": split.id, "split": split.split, "fingerprint": split.fingerprint, "revision": split.revision},
        "protocol": {
            **scorer.protocol(),
            "num_frames": int(first["num_frames"]),
            "fps": float(first["fps"]),
            "video_encoding": {"codec": "libx264", "pix_fmt": "yuv420p", "crf": config.crf},
            "bootstrap": {"method": "percentile", "resamples": DEFAULT_RESAMPLES, "seed": DEFAULT_BOOTSTRAP_SEED},
        },
        "metrics": summarize_metrics([r for r in records if not r.get("failure")], config.scoring.metric_keys()),
        "num_clips": len(clips),
        "failures": [{"clip_id": r["clip_id"], "reason": r["failure"]} for r in records if r.get("failure")],
        "clips": list(clips),
        "videos_dir": VIDEOS_DIR,
        "seed": config.seed,
        "versions": package_versions(),
        "created": utc_now(),
    }
    write_json(run.results_path, results)
    return results


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(options, sort_keys=True, default=str))
