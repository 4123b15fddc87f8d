"""The one ``"module:Class"`` loader behind every registry (methods, trackers).

Registries map names to ``"module:Class"`` strings so that listing or resolving one entry never
imports another's heavy dependencies. Whatever goes wrong while importing (a missing module, a
syntax error, an exception raised at import) becomes the caller's named error with the module
and the cause, never a traceback.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
from typing import Any

from .errors import AmgBenchError

#: ``package.module:Class``: what a registry entry or a ``--method`` value must look like.
MODULE_CLASS = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def load_object(
    target: str, *, name: str, kind: str, error: type[AmgBenchError], from_working_directory: bool = False
) -> Any:
    """Import ``module`` and return its attribute for a ``"module:attribute"`` target.

    With ``from_working_directory`` (a target the user typed) the current directory is searched
    too, after everything installed, for the length of this import only: ``mymethod:MyMethod``
    finds ``./mymethod.py`` as ``python -m`` would, yet never shadows an installed module.

    Args:
        target: ``"package.module:Attribute"``.
        name: what the user asked for (named in errors).
        kind: what is being loaded (``"method"``, ``"tracker"``), named in errors.
        error: the exception class raised.

    Raises:
        error: a malformed target, an import that fails for any reason, or a missing attribute
            (with the module's closest public names).
    """
    if not MODULE_CLASS.match(target):
        raise error(f"{kind} {name!r}: {target!r} is not of the form 'package.module:Class'")
    module_name, _, attribute = target.partition(":")
    added = from_working_directory and os.getcwd() not in sys.path
    if added:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else module_name
        raise error(f"{kind} {name!r}: module {module_name!r} has a syntax error ({where}: {exc.msg})") from exc
    except Exception as exc:  # ImportError, SyntaxError, or anything the module raises at import
        raise error(f"{kind} {name!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc})") from exc
    finally:
        if added and os.getcwd() in sys.path:
            sys.path.remove(os.getcwd())
    try:
        return getattr(module, attribute)
    except AttributeError:
        close = difflib.get_close_matches(attribute, [a for a in dir(module) if not a.startswith("_")], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise error(f"{kind} {name!r}: module {module_name!r} has no attribute {attribute!r}{hint}") from None


def suggest(name: str, known: list[str] | tuple[str, ...] | set[str], cutoff: float = 0.5) -> str:
    """``"; did you mean 'x' or 'y'?"`` for the closest known names, or ``""``."""
    close = difflib.get_close_matches(str(name), sorted(known), n=3, cutoff=cutoff)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
