"""Find a method by name: built-ins, ``amg_bench.methods`` entry points, ``folder:<dir>``, ``module:Class``.

Every entry is a ``"module:Class"`` string imported on first use, so listing or resolving one
method never imports another (``amg`` needs diffusers; ``ground-truth`` does not).

Adding a method:
- in this package: a module under ``amg_bench/methods/`` and one line in :data:`BUILTIN_METHODS`;
- in another package: an entry point in the group ``amg_bench.methods``, e.g. in its
  ``pyproject.toml``: ``[project.entry-points."amg_bench.methods"] mymodel = "mypkg.gen:MyModel"``;
- without packaging: ``--method mypkg.gen:MyModel`` (the module must be importable).
Entry points cannot shadow a built-in name.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from importlib import metadata
from typing import Any

from ..errors import MethodError
from .base import Method

ENTRY_POINT_GROUP = "amg_bench.methods"
FOLDER_PREFIX = "folder:"

#: Built-in method names and the class behind each (imported on first use).
BUILTIN_METHODS = {
    "ground-truth": "amg_bench.methods.reference:GroundTruth",
    "avatar": "amg_bench.methods.reference:Avatar",
    "amg": "amg_bench.methods.amg:AMG",
}

_MODULE_CLASS = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN_METHODS}


def available_methods() -> list[str]:
    """Built-in and installed (entry-point) method names; ``folder:<dir>`` and ``module:Class`` work too."""
    return sorted(set(BUILTIN_METHODS) | set(_entry_points()))


def _import_target(target: str, name: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MethodError(f"method {name!r}: cannot import module {module_name!r} ({exc})") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        close = difflib.get_close_matches(attribute, [a for a in dir(module) if not a.startswith("_")], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise MethodError(f"method {name!r}: module {module_name!r} has no attribute {attribute!r}{hint}") from None


def resolve_method_class(name: str) -> type[Method]:
    """The :class:`Method` subclass behind ``name`` (not ``folder:<dir>``, which takes an argument).

    Raises:
        MethodError: unknown name (with the closest known names), import failure, or not a Method.
    """
    if not isinstance(name, str) or not name:
        raise MethodError(f"method name must be a non-empty string, got {name!r}")
    if name in BUILTIN_METHODS:
        cls = _import_target(BUILTIN_METHODS[name], name)
    elif name.startswith(FOLDER_PREFIX):
        from .reference import FolderMethod

        cls = FolderMethod
    else:
        plugins = _entry_points()
        if name in plugins:
            try:
                cls = plugins[name].load()
            except (ImportError, AttributeError) as exc:
                raise MethodError(
                    f"method {name!r}: entry point {plugins[name].value!r} cannot be loaded ({exc})"
                ) from exc
        elif _MODULE_CLASS.match(name):
            cls = _import_target(name, name)
        else:
            known = available_methods()
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise MethodError(
                f"unknown method {name!r}{hint} Known methods: {known}; also 'folder:<dir>' or 'module:Class'"
            )
    if not (inspect.isclass(cls) and issubclass(cls, Method)):
        raise MethodError(
            f"method {name!r} resolves to {cls!r}, which is not a subclass of amg_bench.methods.base.Method"
        )
    return cls


def get_method(name: str, **options: Any) -> Method:
    """Build the method ``name`` with ``options`` (its constructor's keyword arguments).

    ``folder:<dir>`` builds :class:`~amg_bench.methods.reference.FolderMethod` on ``<dir>``.

    Raises:
        MethodError: unknown or unimportable method, or options its constructor does not take.
    """
    cls = resolve_method_class(name)
    if name.startswith(FOLDER_PREFIX):
        folder = name[len(FOLDER_PREFIX) :]
        if not folder:
            raise MethodError("method 'folder:<dir>' needs a folder after 'folder:'")
        options = {"folder": folder, **options}
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise MethodError(f"bad options for method {name!r}: {exc} (got {sorted(options)})") from exc
    return cls(**options)
