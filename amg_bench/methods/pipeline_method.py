"""A method whose weights are one diffusers pipeline, named by its ``model`` option and loaded on first use.

AMG, DMT and MagicAnimate share the loading rules: the ``model`` option is a local folder or
``hub:<owner>/<name>`` (:mod:`.weights`), ``device`` / ``dtype`` resolve as :mod:`.device` says,
the pipeline moves to the device once and runs without progress bars. Each names its pipeline
class and what to download in :meth:`PipelineMethod.open_pipeline`.
"""

from __future__ import annotations

import abc
from typing import Any

from .base import Method
from .device import check_device, check_dtype, resolve_device, resolve_dtype
from .weights import WeightsSource, weights_source


def check_pipeline_options(options) -> None:
    """Validate the ``model``, ``device`` and ``dtype`` options every pipeline method has.

    Raises:
        MethodError: naming the option and the value.
    """
    check_device(options.device)
    check_dtype(options.dtype)
    weights_source(options.model, "model")


class PipelineMethod(Method):
    """A :class:`Method` backed by one diffusers pipeline (options ``model``, ``device``, ``dtype``)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._pipeline = None

    @property
    def pipeline(self):
        """The loaded pipeline (loads it on first use)."""
        self.load()
        return self._pipeline

    @abc.abstractmethod
    def open_pipeline(self, source: WeightsSource, dtype):
        """The pipeline read from ``source`` in ``dtype`` (not yet on the device).

        Raises:
            MissingWeightsError: the weights are not there; the message says what to download and where.
        """

    def load(self) -> None:
        """Load the pipeline named by the ``model`` option onto the device (once).

        Raises:
            MissingWeightsError: the folder or Hub repo is not available (the message says how to get it).
            MethodError: a CUDA device asked for where there is none.
        """
        if self._pipeline is not None:
            return
        opts = self.options
        source = weights_source(opts.model, "model")
        device = resolve_device(opts.device)
        pipe = self.open_pipeline(source, resolve_dtype(opts.dtype, device))
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        self._pipeline = pipe
