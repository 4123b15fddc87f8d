"""Test-wide settings: never touch the network, keep torch small and deterministic."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never read or fill the user's caches: one fresh content cache per test session.
if "AMG_BENCH_CACHE" not in os.environ:
    os.environ["AMG_BENCH_CACHE"] = tempfile.mkdtemp(prefix="amg_bench_test_cache_")
    atexit.register(shutil.rmtree, os.environ["AMG_BENCH_CACHE"], True)

import pytest


@pytest.fixture(autouse=True, scope="session")
def _small_torch():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from a second thread and lose much when the cores are shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
