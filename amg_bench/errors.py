"""Named exceptions for every boundary of the toolkit.

All of them derive from :class:`AmgBenchError`, so the CLI can turn any expected failure into
one readable line and a non-zero exit, while programming errors still show a traceback.
"""


class AmgBenchError(Exception):
    """Base class of every error the toolkit raises on purpose (bad input, missing weights...)."""


class VideoError(AmgBenchError):
    """A video file or byte string is missing, unreadable, corrupt or has the wrong fps/shape."""


class MotionError(AmgBenchError):
    """A motion file (SMPL parameters, cameras, validity) is missing fields or has bad shapes."""


class ManifestError(AmgBenchError):
    """A source manifest has unknown keys, missing fields or points at missing files."""


class CaptionError(AmgBenchError):
    """A captions file is malformed or lacks captions the windows need."""


class BuildError(AmgBenchError):
    """The dataset cannot be built as asked (no valid window, bad split sizes, ...)."""


class OutputExistsError(AmgBenchError):
    """The output path exists and overwriting was not asked for."""


class BodyModelError(AmgBenchError):
    """A body-model file is missing or of the wrong kind."""


class MissingWeightsError(AmgBenchError):
    """Model weights are not available locally; the message says what to download and where."""


class MethodError(AmgBenchError):
    """A method cannot be found, configured, or cannot run on the given request."""


class MethodOutputError(MethodError):
    """A method returned a video of the wrong frame count, size, dtype or value range."""


class TrackerError(AmgBenchError):
    """A point tracker cannot be loaded or returned malformed tracks."""


class MetricError(AmgBenchError):
    """Metric inputs are inconsistent (shapes, lengths, point counts)."""


class ConversionError(AmgBenchError):
    """A checkpoint could not be converted (unmapped or missing keys)."""


class ResultsError(AmgBenchError):
    """A results file (``results.json``) or the paper's reported table is malformed or inconsistent."""


class DatasetError(AmgBenchError):
    """A dataset cannot be loaded, or lacks the split, rows or columns that were asked for."""
