"""Evaluation runs: generate the test clips with a method, score them, aggregate with provenance.

- ``runner``: :func:`evaluate` (resume, sharding, failures) and its :class:`EvaluationConfig`;
- ``dataset``: the split as clip ids and :class:`~amg_bench.methods.base.GenerationRequest` s;
- ``scoring``: per-clip CLIP score and motion fidelity with the on-disk ``cache``;
- ``run_folder``: the files of a run; ``aggregate``: mean and bootstrap interval (pure);
  ``provenance``: package versions and time.

Names are imported on first use, so importing this package does not import torch.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "evaluate": "amg_bench.evaluation.runner",
    "EvaluationConfig": "amg_bench.evaluation.runner",
    "EvaluationSummary": "amg_bench.evaluation.runner",
    "ScoringSettings": "amg_bench.evaluation.scoring",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'amg_bench.evaluation' has no attribute {name!r}")
