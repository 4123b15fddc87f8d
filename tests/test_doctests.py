"""Every ``>>>`` example in the package's docstrings runs and prints what it says."""

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import amg_bench


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(amg_bench.__path__, "amg_bench."):
        spec = importlib.util.find_spec(info.name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, encoding="utf-8") as handle:
            if ">>>" in handle.read():
                names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_examples_exist():
    assert len(MODULES) >= 5, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has '>>>' but doctest found no example"
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples of {name} fail (run: python -m doctest -v)"
    )
