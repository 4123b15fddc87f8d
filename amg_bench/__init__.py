"""amg-bench: dataset toolkit and benchmark for avatar-motion-guided human video generation.

The public API is imported lazily so ``import amg_bench`` (and ``amg-bench --help``) stays fast.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "build_dataset": "amg_bench.data.builder",
    "BuildConfig": "amg_bench.data.builder",
    "merge_shards": "amg_bench.data.builder",
    "load_benchmark": "amg_bench.data.hub",
    "publish": "amg_bench.data.hub",
    "dataset_info": "amg_bench.data.hub",
    "get_method": "amg_bench.methods.registry",
    "evaluate": "amg_bench.evaluation.runner",
    "EvaluationConfig": "amg_bench.evaluation.runner",
    "GenerationRequest": "amg_bench.methods.base",
    "Method": "amg_bench.methods.base",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'amg_bench' has no attribute {name!r}")
