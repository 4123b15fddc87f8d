"""``evaluate``: generate every test clip with a method, score it, and aggregate into ``results.json``.

Steps (each process of a sharded run does 1-7 on its share, the main process then does 8):

1. open and validate the split, and select the clips (the protocol's, or ``clips`` / ``limit``);
2. resolve the method and refuse a dataset lacking a column it requires, before any work;
3. lock the run folder (another process writing it is refused, naming it);
4. build the metrics, then the method, and load its weights: a missing weight, a bad option or
   an unusable device fails here, once, before any clip;
5. check the run folder's settings (a resume must use the same ones) and only then record them
   in ``run.json``, so a run that never started never blocks a corrected rerun;
6. take this process's share ``clips[rank::world_size]``, drop finished clips, ``prepare``;
7. per clip: request -> the method's video -> ``videos/<clip_id>.mp4`` -> decode that file ->
   score -> record (the record marks it finished). Every method is scored on exactly what it
   publishes: the stored mp4 decoded. Generated frames are encoded once (libx264, yuv420p, the
   recorded CRF); a method that already holds its video as mp4 bytes (``ground-truth``: the
   dataset's own clip; ``folder:``: the given files) publishes them unchanged. A method error or
   a malformed output fails the clip (with the reason) and the run goes on;
8. wait for every process, merge the records sorted by clip id into ``scores.jsonl`` and
   ``results.json``, so the results do not depend on sharding or resuming.

Sharding uses ``accelerate.PartialState``: run the same command under ``accelerate launch`` or
``torchrun`` and each process takes its share.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AmgBenchError
from ..files import output_lock, write_bytes, write_json
from ..methods.base import Method, check_output
from ..results import SCHEMA_VERSION, DatasetRecord, Failure, MethodRecord, Results
from ..video import encode_mp4, read_video
from .aggregate import INTERVAL, summarize_metrics
from .dataset import BenchmarkSplit, ClipInputs, check_columns, clip_seed, open_split, select_clips
from .protocols import protocol_scoring, recorded_name, select_protocol_clips
from .provenance import package_versions, utc_now
from .run_folder import VIDEOS_DIR, RunFolder
from .scoring import PEOPLE_ARRAYS, MetricSuite, ScoringSettings, Stopwatch

logger = logging.getLogger(__name__)

#: libx264 quality of stored videos: 0 is lossless for 8-bit 4:2:0, so what is scored differs from a
#: method's frames only by the chroma subsampling, and identical frames stay identical (at CRF 10 a
#: P-frame's residual moves a held frame by up to 2 grey levels, which a point tracker reads as motion).
DEFAULT_CRF = 0


def default_run_folder(method: str) -> Path:
    """``runs/<method>`` with the name made a safe folder name (``folder:/x/y`` -> ``runs/folder_x_y``)."""
    return Path("runs") / (re.sub(r"[^A-Za-z0-9._-]+", "_", method).strip("_.") or "method")


@dataclass
class EvaluationConfig:
    """One evaluation run.

    Attributes:
        method: registry name, ``folder:<dir>`` or ``module:Class``.
        dataset: built folder or Hub id; ``split``/``revision`` select within it.
        out: the run folder (default :func:`default_run_folder`).
        protocol: ``full``, ``paper`` or ``offline`` (:mod:`amg_bench.evaluation.protocols`): the
            scoring settings and clips; ``scoring`` replaces its settings (the run is then
            recorded as ``custom`` unless they equal the protocol's).
        method_config: YAML file of method options (default: ``baselines/<method>.yaml`` if it exists);
            ``method_options`` are merged over it (see :mod:`amg_bench.methods.config`).
        limit: evaluate only the first ``limit`` clips (dataset order); ``clips``: only these ids.
        seed: base seed; clip ``c`` gets :func:`~amg_bench.evaluation.dataset.clip_seed` ``(seed, c)``.
        device: torch device of the metrics (default: this process's accelerate device); when given,
            also the method's ``device`` option if it has one and the options do not set it.
        dtype: the method's ``dtype`` option, if it has one and the options do not set it.
        body_model: the body model the person masks are rendered with (``mannequin``, or the
            SMPL / SMPL-X file of a dataset built with one).
        cache_dir: root of the content cache (default :func:`amg_bench.cache.cache_root`).
        crf: H.264 quality of the stored videos (libx264, yuv420p).
        progress: show a progress bar.
    """

    method: str
    dataset: str
    out: str | os.PathLike | None = None
    split: str = "test"
    revision: str | None = None
    protocol: str = "full"
    scoring: ScoringSettings | None = None
    method_config: str | os.PathLike | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    clips: list[str] | None = None
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    body_model: str = "mannequin"
    cache_dir: str | os.PathLike | None = None
    crf: int = DEFAULT_CRF
    progress: bool = True

    @property
    def run_folder(self) -> Path:
        return Path(self.out) if self.out is not None else default_run_folder(self.method)

    @property
    def scoring_settings(self) -> ScoringSettings:
        return self.scoring if self.scoring is not None else protocol_scoring(self.protocol)


@dataclass
class EvaluationSummary:
    """What a run did: the merged results, and this process's work and stage timings.

    ``already_finished`` clips were skipped; ``processed`` were generated and scored now.
    ``results`` is ``None`` only on a non-main process that finished before the merge.
    """

    out: Path
    results: Results | None
    num_clips: int
    already_finished: int
    processed: int
    seconds: dict[str, float]
    cache: dict[str, dict[str, int]]
    main_process: bool = True

    @property
    def failures(self) -> tuple[Failure, ...]:
        return self.results.failures if self.results is not None else ()

    @property
    def ok(self) -> bool:
        return not self.failures


def evaluate(config: EvaluationConfig, state: Any = None) -> EvaluationSummary:
    """Run (or resume) an evaluation; see the module docstring for the steps.

    Args:
        config: the run.
        state: an ``accelerate.PartialState`` (default: a new one, CPU when ``device`` is cpu), or
            any object with its ``process_index``, ``num_processes``, ``is_main_process``,
            ``device``, ``wait_for_everyone()`` and ``main_process_first()``.

    Returns:
        The summary; ``summary.failures`` lists failed clips (the CLI then exits non-zero).

    Raises:
        DatasetError: bad dataset, split or clip selection.
        MethodError: unknown method, bad options, a column the method requires is missing, or
            its weights fail to load.
        OutputExistsError: ``out`` holds a run with other settings, or another process writes it.
        MissingWeightsError, MetricError, TrackerError: the metrics cannot be built.
    """
    if config.device is not None:
        from ..methods.device import check_device

        check_device(str(config.device), "--device")
    if state is None:
        from accelerate import PartialState

        state = PartialState(cpu=str(config.device or "").startswith("cpu"))
    started = time.perf_counter()
    device = str(config.device or state.device)
    watch = Stopwatch()
    run = RunFolder(config.run_folder)
    scoring = config.scoring_settings

    # 1. Dataset and clips
    with state.main_process_first():
        split = open_split(config.dataset, config.split, config.revision, config.cache_dir)
    if config.clips or config.limit:
        clips = select_clips(split, config.clips, config.limit)
    else:
        clips = select_protocol_clips(config.protocol, split.clip_ids)
    protocol_name = recorded_name(config.protocol, scoring, clips, split.clip_ids)

    # 2. Method: its class is checked against the dataset's columns before it is built (which may load weights)
    cls, options, config_file = _resolve_method(config)
    check_columns(split, cls.requires, config.method)

    lock_name = ".amg_bench.lock" if state.is_main_process else f".amg_bench.rank{state.process_index}.lock"
    with output_lock(run.root, lock_name):
        # 3-4. Metrics, then the method with its weights
        body = _body_model(config.body_model) if scoring.needs_regions else None
        suite = MetricSuite(scoring, device, body, config.cache_dir, watch, reference=split.reference)
        method = build_method(config.method, cls, options, config.device, config.dtype)
        method_record = MethodRecord(
            name=config.method,
            options=_jsonable(method.options_dict()),
            cls=f"{cls.__module__}:{cls.__qualname__}",
            config_file=str(config_file) if config_file else None,
            requires=tuple(sorted(method.requires)),
            uses_prompt=bool(method.uses_prompt),
            role=method.role,
        )

        # 5. Settings of the run folder, recorded once everything has loaded
        settings = {
            "method": {
                "name": config.method,
                "options": _settings_options(method_record.options),
                "config_file": method_record.config_file,
            },
            "dataset": {"id": split.id, "split": split.split, "fingerprint": split.fingerprint},
            "protocol": protocol_name,
            "scoring": scoring.to_dict(),
            "clips": clips,
            "seed": config.seed,
            "crf": config.crf,
        }
        method.prepare(list(clips), split)  # may refuse the run: before run.json is written
        run.check_settings(settings, write=state.is_main_process)

        # 6. This process's share
        mine = clips[state.process_index :: state.num_processes]
        pending = [clip_id for clip_id in mine if not run.is_finished(clip_id)]

        # 7. Clips
        from tqdm.auto import tqdm

        label = f"evaluate {config.method}" + (f" [{state.process_index}]" if state.num_processes > 1 else "")
        position = state.process_index if state.num_processes > 1 else None
        with tqdm(
            total=len(mine),
            initial=len(mine) - len(pending),
            desc=label,
            unit="clip",
            disable=not config.progress,
            position=position,
        ) as bar:
            for clip_id in pending:
                bar.set_postfix_str(clip_id)
                _process_clip(clip_id, split, method, config, suite, run, watch)
                bar.update()

        # 8. Merge
        state.wait_for_everyone()
        if state.is_main_process:
            _write_results(run, clips, split, method_record, suite, scoring, protocol_name, config)
        state.wait_for_everyone()
    # every process reads the merged results (after the last barrier the main process has written them)
    results = Results.load(run.results_path) if state.is_main_process or run.results_path.is_file() else None
    seconds = {**watch.seconds, "total": time.perf_counter() - started}
    return EvaluationSummary(
        run.root,
        results,
        len(clips),
        len(mine) - len(pending),
        len(pending),
        seconds,
        suite.cache_stats(),
        state.is_main_process,
    )


def _resolve_method(config: EvaluationConfig) -> tuple[type[Method], dict[str, Any], Path | None]:
    """The method's class, its options (YAML file merged with ``method_options``) and the file."""
    from ..methods.config import merge_options, resolve_options
    from ..methods.registry import resolve_method_class

    cls = resolve_method_class(config.method)
    file_options, config_file = resolve_options(config.method, config.method_config)
    return cls, merge_options(file_options, config.method_options), config_file


def build_method(
    name: str, cls: type[Method], options: dict[str, Any], device: str | None, dtype: str | None
) -> Method:
    """The method instance, its weights loaded.

    ``device`` / ``dtype`` (when given) fill the method's ``device`` / ``dtype`` options when it
    declares such fields and ``options`` do not set them.

    Raises:
        MethodError: the method cannot be built, or loading its weights failed for another reason
            than missing weights (named in one line).
    """
    from ..errors import MethodError
    from ..methods.registry import get_method

    fields = {f.name for f in dataclasses.fields(cls.Options)}
    extra = {
        key: value
        for key, value in (("device", device), ("dtype", dtype))
        if value is not None and key in fields and key not in options
    }
    method = get_method(name, **options, **extra)
    try:
        method.load()
    except AmgBenchError:
        raise
    except Exception as exc:  # a method's weights may fail to load in many ways
        raise MethodError(f"method {name!r} failed to load: {type(exc).__name__}: {exc}") from exc
    return method


def _body_model(spec: str):
    from ..data.body_model import load_body_model

    return load_body_model(spec)


def _process_clip(
    clip_id: str,
    split: BenchmarkSplit,
    method: Method,
    config: EvaluationConfig,
    suite: MetricSuite,
    run: RunFolder,
    watch: Stopwatch,
) -> bool:
    """Generate, store, decode, score and record one unfinished clip; returns whether it succeeded.

    The record is written last: it marks the clip finished. A clip whose video exists without a
    record (a run stopped in between) is generated again.
    """
    seed = clip_seed(config.seed, clip_id)
    inputs = ClipInputs(split, clip_id)
    record: dict[str, Any] = {"clip_id": clip_id, "source_id": split.source_id(clip_id), "seed": seed, "failure": None}
    video_path = run.video_path(clip_id)
    try:
        with watch("decode"):
            request = inputs.request(method.requires, seed)
        method.check_request(request)
        with watch("generate"):
            data = method.published(request)
            if data is None:
                frames = check_output(method.generate(request), request, config.method)
        if data is None:
            with watch("encode"):
                data = encode_mp4(frames, request.fps, crf=config.crf)
        with watch("decode"):
            stored = check_output(read_video(data), request, config.method)
    except Exception as exc:  # any error of the method's code fails this clip only
        video_path.unlink(missing_ok=True)  # a video from an earlier attempt is not this run's output
        return _fail(run, record, "generate", exc)
    try:
        with watch("decode"):
            reference = inputs.frames(split.reference_column)
        values = suite.score(stored, reference, inputs.row)
    except AmgBenchError as exc:
        video_path.unlink(missing_ok=True)
        return _fail(run, record, "score", exc)
    people = values.pop(PEOPLE_ARRAYS, None)
    record.update(values)
    if people is not None:
        run.write_people(clip_id, people)
    write_bytes(video_path, data)
    run.write_record(record)
    return True


def _fail(run: RunFolder, record: dict[str, Any], stage: str, exc: Exception) -> bool:
    reason = f"{stage}: {type(exc).__name__}: {' '.join(str(exc).split())}"
    logger.warning("clip %s failed at %s", record["clip_id"], reason)
    run.write_record({**record, "failure": reason})
    return False


def _write_results(
    run: RunFolder,
    clips: list[str],
    split: BenchmarkSplit,
    method: MethodRecord,
    suite: MetricSuite,
    scoring: ScoringSettings,
    protocol_name: str,
    config: EvaluationConfig,
) -> Results:
    """Merge every clip's record into ``scores.jsonl`` and ``results.json`` (sorted by clip id)."""
    records = []
    for clip_id in clips:
        record = run.read_record(clip_id)
        if record is None:
            record = {
                "clip_id": clip_id,
                "source_id": split.source_id(clip_id),
                "failure": "merge: no score record (a process stopped before this clip)",
            }
        records.append(record)
    run.write_scores(records)
    scored = [r for r in records if not r.get("failure")]
    first = split.row(clips[0])
    data = {
        "schema_version": SCHEMA_VERSION,
        "method": method.to_dict(),
        "dataset": DatasetRecord(split.id, split.split, split.fingerprint, split.revision).to_dict(),
        "protocol": {
            "name": protocol_name,
            "reference": split.reference,
            **suite.protocol(),
            "num_frames": int(first["num_frames"]),
            "fps": float(first["fps"]),
            "video_encoding": {
                "codec": "libx264",
                "pix_fmt": "yuv420p",
                "crf": config.crf,
                "scored": "the stored mp4, decoded; reference methods store the dataset's bytes",
            },
            "interval": INTERVAL,
        },
        "metrics": {k: v.to_dict() for k, v in summarize_metrics(scored, scoring.metric_keys()).items()},
        "diagnostics": {k: v.to_dict() for k, v in summarize_metrics(scored, scoring.diagnostic_keys()).items()},
        "num_clips": len(clips),
        "clips": list(clips),
        "failures": [{"clip_id": r["clip_id"], "reason": r["failure"]} for r in records if r.get("failure")],
        "videos_dir": VIDEOS_DIR,
        "seed": config.seed,
        "versions": package_versions(),
        "created": utc_now(),
    }
    results = Results.from_dict(data, run.results_path)  # the writer never writes what the reader refuses
    write_json(run.results_path, results.to_dict())
    return results


def _settings_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options that identify a run (``device`` only says where it ran, so a resume may move)."""
    return {k: v for k, v in options.items() if k != "device"}


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(options, sort_keys=True, default=str))
