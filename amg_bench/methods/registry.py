"""Find a method by name: built-ins, ``amg_bench.methods`` entry points, ``folder:<dir>``, ``module:Class``.

Every entry is a ``"module:Class"`` string imported on first use (:func:`amg_bench.plugins.load_object`),
so listing or resolving one method never imports another (``amg`` needs diffusers; ``ground-truth``
does not).

Adding a method:
- in this package: a module under ``amg_bench/methods/`` and one line in :data:`BUILTIN_METHODS`
  (plus ``baselines/<name>.yaml`` with its defaults);
- in another package: an entry point in the group ``amg_bench.methods``, e.g. in its
  ``pyproject.toml``: ``[project.entry-points."amg_bench.methods"] mymodel = "mypkg.gen:MyModel"``;
- without packaging: ``--method mypkg.gen:MyModel`` (the module must be importable).
Entry points cannot shadow a built-in name.
"""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Any

from ..errors import AmgBenchError, MethodError
from ..plugins import MODULE_CLASS, load_object, suggest
from .base import Method

ENTRY_POINT_GROUP = "amg_bench.methods"
FOLDER_PREFIX = "folder:"

#: Built-in method names and the class behind each (imported on first use).
BUILTIN_METHODS = {
    "ground-truth": "amg_bench.methods.reference:GroundTruth",
    "avatar": "amg_bench.methods.reference:Avatar",
    "frozen": "amg_bench.methods.reference:Frozen",
    "shuffled": "amg_bench.methods.reference:Shuffled",
    "amg": "amg_bench.methods.amg:AMG",
    "dmt": "amg_bench.methods.dmt:DMT",
    "magicanimate": "amg_bench.methods.magicanimate:MagicAnimate",
}


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN_METHODS}


def available_methods() -> list[str]:
    """Built-in and installed (entry-point) method names; ``folder:<dir>`` and ``module:Class`` work too."""
    return sorted(set(BUILTIN_METHODS) | set(_entry_points()))


def resolve_method_class(name: str) -> type[Method]:
    """The :class:`Method` subclass behind ``name`` (``folder:<dir>`` gives the folder method's class).

    Raises:
        MethodError: unknown name (with the closest known names), import failure, or not a Method.
    """
    if not isinstance(name, str) or not name:
        raise MethodError(f"method name must be a non-empty string, got {name!r}")
    if name in BUILTIN_METHODS:
        cls = load_object(BUILTIN_METHODS[name], name=name, kind="method", error=MethodError)
    elif name.startswith(FOLDER_PREFIX):
        from .reference import FolderMethod

        cls = FolderMethod
    else:
        plugins = _entry_points()
        if name in plugins:
            try:
                cls = load_object(plugins[name].value, name=name, kind="method", error=MethodError)
            except MethodError as exc:
                raise MethodError(f"entry point {plugins[name].value!r} cannot be loaded: {exc}") from exc
        elif MODULE_CLASS.match(name):
            cls = load_object(name, name=name, kind="method", error=MethodError, from_working_directory=True)
        else:
            known = available_methods()
            raise MethodError(
                f"unknown method {name!r}{suggest(name, known)} Known methods: {known}; also 'folder:<dir>' "
                "or 'module:Class'"
            )
    if not (inspect.isclass(cls) and issubclass(cls, Method)):
        raise MethodError(
            f"method {name!r} resolves to {cls!r}, which is not a subclass of amg_bench.methods.base.Method"
        )
    return cls


def method_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with what the name itself carries (``folder:<dir>`` -> ``folder``).

    Raises:
        MethodError: ``folder:`` without a folder.
    """
    if not name.startswith(FOLDER_PREFIX):
        return dict(options)
    folder = name[len(FOLDER_PREFIX) :]
    if not folder:
        raise MethodError("method 'folder:<dir>' needs a folder after 'folder:'")
    return {"folder": folder, **options}


def get_method(name: str, **options: Any) -> Method:
    """Build the method ``name`` with ``options`` (fields of its ``Options`` dataclass).

    Raises:
        MethodError: unknown or unimportable method, options it does not take or of the wrong
            type, or a constructor that fails (whatever it raised, named in one line).
    """
    cls = resolve_method_class(name)
    options = method_options(name, options)
    try:
        return cls(**options)
    except AmgBenchError:
        raise
    except Exception as exc:  # a plugin's constructor may raise anything
        raise MethodError(f"method {name!r} could not be built: {type(exc).__name__}: {exc}") from exc
