"""A method's options: its default ``baselines/<name>.yaml``, a ``--config`` file, ``key=value`` overrides.

Precedence, lowest first: the method's own defaults (its constructor), the YAML file
(``--config FILE`` or, when none is given, ``baselines/<name>.yaml`` if it exists), then each
``--method-arg key=value`` in order. The YAML file is a mapping of constructor keyword
arguments. A value string is read as one YAML scalar or flow value (``20`` is an int, ``3.0``
a float, ``true`` a bool, ``[256, 256]`` a list, anything else a string); a dotted key
(``scheduler.steps=20``) sets a nested mapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import MethodError

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def baseline_dirs() -> list[Path]:
    """Folders searched for ``<name>.yaml``: the package's ``baselines`` (when shipped) then the repository's."""
    package = Path(__file__).resolve().parents[1]
    return [package / "baselines", package.parent / "baselines"]


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
    import yaml

    path = Path(path)
    if not path.is_file():
        raise MethodError(f"method config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MethodError(f"method config {path} is not valid YAML: {exc}") from exc
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
