"""A method's options: its default ``baselines/<name>.yaml``, a ``--config`` file, ``key=value`` overrides.

Precedence, lowest first: the method's own defaults (its ``Options`` dataclass), the YAML file
(``--config FILE`` or, when none is given, ``baselines/<name>.yaml`` if it exists), then each
``--method-arg key=value`` in order. The YAML file is a mapping of constructor keyword
arguments. A value string is read as one YAML scalar or flow value (``20`` is an int, ``3.0``
a float, ``true`` a bool, ``[256, 256]`` a list, anything else a string); a dotted key
(``scheduler.steps=20``) sets a nested mapping. :func:`build_options` then checks every value
against the type the ``Options`` dataclass declares, so a wrong option fails before any work.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import MethodError
from ..plugins import suggest

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def baseline_dirs() -> list[Path]:
    """Folders searched for ``<name>.yaml``: the package's ``baselines`` (the repository's, shipped in the wheel)."""
    return [Path(__file__).resolve().parents[1] / "baselines"]


def default_config_path(method_name: str) -> Path | None:
    """``baselines/<method_name>.yaml`` if it exists (only for plain names, not ``folder:``/``module:Class``)."""
    if not _PLAIN_NAME.match(method_name):
        return None
    for folder in baseline_dirs():
        path = folder / f"{method_name}.yaml"
        if path.is_file():
            return path
    return None


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping of method options.

    Raises:
        MethodError: the file is missing, not YAML, or not a mapping with string keys.
    """
    from ..readers import read_yaml

    data = read_yaml(path, "method config", MethodError)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise MethodError(
            f"method config {path} must be a mapping of option names to values, got {type(data).__name__}"
        )
    return data


def parse_method_args(items: Iterable[str], option: str = "--method-arg") -> dict[str, Any]:
    """Turn ``["steps=20", "scheduler.eta=0.0"]`` into ``{"steps": 20, "scheduler": {"eta": 0.0}}``.

    ``option`` names the command-line option in error messages.

    Raises:
        MethodError: an item without ``=``, an empty key, or a key that is both a value and a mapping.
    """
    import yaml

    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise MethodError(f"{option} must look like key=value, got {item!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        _set_dotted(options, key, value, f"{option} {item!r}")
    return options


def _set_dotted(options: dict[str, Any], key: str, value: Any, where: str) -> None:
    *parents, leaf = key.split(".")
    node = options
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise MethodError(f"{where}: {part!r} is already set to a value, not a mapping")
        node = child
    node[leaf] = value


def merge_options(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` onto ``base`` (mappings merge key by key; anything else replaces)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_options(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_options(
    method_name: str, config: str | os.PathLike | None = None, method_args: Iterable[str] = ()
) -> tuple[dict[str, Any], Path | None]:
    """The options a method runs with, and the YAML file they came from (``None``: no file).

    Raises:
        MethodError: unreadable config or malformed ``key=value``.
    """
    path = Path(config) if config is not None else default_config_path(method_name)
    options = load_config(path) if path is not None else {}
    return merge_options(options, parse_method_args(method_args)), path


# ---- typed options --------------------------------------------------------------------------


def build_options(options_class: type, values: Mapping[str, Any], method: str) -> Any:
    """An ``options_class`` instance from ``values``, every value checked against its field's type.

    Field types understood: ``int``, ``float`` (ints accepted), ``str``, ``bool``, ``X | None``,
    unions, ``Literal[...]``, ``tuple[...]`` / ``list[...]`` (YAML lists accepted for tuples),
    ``dict``; other annotations are not checked. The dataclass's own ``__post_init__`` runs last.

    Raises:
        MethodError: an unknown option (with the closest names), a value of the wrong type,
            or what ``__post_init__`` refuses; each names the method, the option and the value.
    """
    fields = {f.name: f for f in dataclasses.fields(options_class) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        known = sorted(fields)
        raise MethodError(
            f"method {method!r} has no option {unknown[0]!r}{suggest(unknown[0], known)}; its options: {known or 'none'}"
        )
    hints = typing.get_type_hints(options_class)
    checked = {
        key: _coerce(value, hints.get(key, Any), f"method {method!r} option {key!r}") for key, value in values.items()
    }
    try:
        return options_class(**checked)
    except MethodError:
        raise
    except (TypeError, ValueError) as exc:
        raise MethodError(f"method {method!r}: bad options {checked}: {exc}") from exc


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` as ``annotation`` (int -> float, list -> tuple), or MethodError."""
    ok, result = _match(value, annotation)
    if not ok:
        raise MethodError(f"{where} must be {_describe(annotation)}, got {value!r} ({type(value).__name__})")
    return result


def _match(value: Any, annotation: Any) -> tuple[bool, Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return True, value
    if annotation is type(None):
        return value is None, value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            ok, result = _match(value, option)
            if ok:
                return True, result
        return False, value
    if origin is typing.Literal:
        return value in args, value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if annotation is str:
        return isinstance(value, str), value
    if origin in (tuple, list) or annotation in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False, value
        container = origin or annotation
        if container is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return False, value
            items = [_match(v, a) for v, a in zip(value, args)]
        else:
            item_type = args[0] if args else Any
            items = [_match(v, item_type) for v in value]
        if not all(ok for ok, _ in items):
            return False, value
        return True, container(result for _, result in items)
    if origin is dict or annotation is dict:
        return isinstance(value, Mapping), dict(value) if isinstance(value, Mapping) else value
    return True, value  # a type this checker does not know: the dataclass decides


def _describe(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if annotation is type(None):
        return "null"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if annotation in names:
        return names[annotation]
    if origin in (tuple, list):
        return f"a list of {_describe(args[0]) if args else 'values'}"
    return getattr(annotation, "__name__", str(annotation))
