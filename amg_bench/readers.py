"""Reading the YAML and ``.npz`` files a user names, with one-line errors and no pickles.

PyYAML's errors span several lines (the problem, a quoted snippet, a caret), and numpy's
``np.load`` says "contains pickled data" for any file that is not an archive at all, a text
file included. These readers say what is wrong in one line that names the file, the line and
column of a YAML problem, or what the file actually is.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def parse_yaml(text: str, where: str, error: type[Exception]) -> Any:
    """``yaml.safe_load(text)``; a syntax error becomes ``error("<where> is not valid YAML (line L, column C): ...")``."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{problem} {context}" if context else problem
        raise error(f"{where} is not valid YAML{at}: {detail}") from None


def read_yaml(path: str | os.PathLike, what: str, error: type[Exception]) -> Any:
    """The YAML document in the file ``path`` (a ``what``, e.g. "manifest").

    Raises:
        error: the file is missing, a folder, not UTF-8 text, or not valid YAML.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not a YAML file")
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path} is not readable UTF-8 text ({exc})") from None
    return parse_yaml(text, f"{what} {path}", error)


def check_npz_file(path: str | os.PathLike, what: str, error: type[Exception]) -> Path:
    """Refuse, by its first bytes, a file that is not a ``.npz`` archive, saying what it is instead.

    Raises:
        error: missing, a folder, empty, a single ``.npy`` array, or not a zip archive.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not an .npz file")
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        raise error(f"{what} {path} is empty, not an npz file")
    if head.startswith(_NPY_MAGIC):
        raise error(f"{what} {path} is a single .npy array, not an npz file of named arrays (np.savez)")
    if not head.startswith(_ZIP_MAGIC):
        raise error(f"{what} {path} is not an npz file (it starts with {head!r}; npz files are zip archives)")
    return path


def read_npz(path: str | os.PathLike, what: str, error: type[Exception]) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, read with ``allow_pickle=False``.

    Raises:
        error: not an npz file (see :func:`check_npz_file`), a damaged archive, or an array that
            holds pickled Python objects (named; it is never unpickled).
    """
    path = check_npz_file(path, what, error)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {}
            for key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError as exc:
                    if "allow_pickle" not in str(exc):
                        raise
                    raise error(
                        f"{what} {path}: array {key!r} holds pickled Python objects, which are never loaded; "
                        "save it as numbers or strings"
                    ) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise error(f"{what} {path} is a damaged npz file ({' '.join(str(exc).split())})") from None
    return arrays
