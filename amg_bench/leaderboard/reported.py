"""Read ``leaderboard/reported.json``: the numbers printed in the AMG paper, kept apart.

These rows were not measured here, have no confidence interval and used the paper's own
protocol, so they are loaded into their own type (never a :class:`Results`) and the
leaderboard shows them as a separate "reported in the paper" block, never ranked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from ..results import METRICS

#: The repository's ``leaderboard/reported.json``, shipped in the package through a symlink.
DEFAULT_REPORTED = Path(__file__).with_name("reported.json")
REPORTED_LABEL = "reported"


@dataclass(frozen=True)
class ReportedRow:
    """One published row: method name and its printed values, keyed like :data:`METRICS`."""

    method: str
    values: dict[str, float]


@dataclass(frozen=True)
class ReportedTable:
    """The paper's table: citation, the protocol it states, and its rows in printed order."""

    path: Path
    citation: dict[str, Any]
    protocol: dict[str, Any]
    note: str
    rows: tuple[ReportedRow, ...]

    @property
    def citation_text(self) -> str:
        """``Authors (year). Title. arXiv:id, Table n.``"""
        c = self.citation
        authors = ", ".join(c["authors"])
        return f"{authors} ({c['year']}). {c['title']}. arXiv:{c['arxiv']}, {c['table']}."


def _fail(path: Path, name: str, value: Any, problem: str) -> ResultsError:
    return ResultsError(f"{path}: field {name!r} {problem}, got {value!r}")


def _require(path: Path, data: dict, name: str, kind: type | tuple[type, ...], prefix: str = "") -> Any:
    if name not in data:
        raise ResultsError(f"{path}: missing field {prefix + name!r}")
    if not isinstance(data[name], kind) or isinstance(data[name], bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        raise _fail(path, prefix + name, data[name], f"must be of type {' or '.join(k.__name__ for k in kinds)}")
    return data[name]


def parse_reported(data: Any, path: str | os.PathLike) -> ReportedTable:
    """Validate a decoded reported table.

    Every value must be ``{"value": <number>, "label": "reported"}`` so no number in the file
    can be mistaken for a measurement.

    Raises:
        ResultsError: missing or malformed field, an unknown metric, or a value not labelled
            ``"reported"``.
    """
    path = Path(path)
    if not isinstance(data, dict):
        raise _fail(path, "<top level>", data, "must be an object")
    if data.get("label") != REPORTED_LABEL:
        raise _fail(path, "label", data.get("label"), f"must be {REPORTED_LABEL!r}")
    citation = _require(path, data, "citation", dict)
    for key in ("title", "arxiv", "table"):
        _require(path, citation, key, str, "citation.")
    _require(path, citation, "year", int, "citation.")
    url = citation.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
        raise _fail(path, "citation.url", url, "must be an http(s) link")
    if not _require(path, citation, "authors", list, "citation."):
        raise _fail(path, "citation.authors", [], "must name the authors")
    protocol = _require(path, data, "protocol", dict)
    num_clips = _require(path, protocol, "num_clips", int, "protocol.")
    _require(path, protocol, "num_frames", int, "protocol.")
    _require(path, protocol, "fps", (int, float), "protocol.")
    _require(path, protocol, "split", str, "protocol.")
    clip = _require(path, protocol, "clip", dict, "protocol.")
    for key in ("model", "pretrained"):
        _require(path, clip, key, str, "protocol.clip.")
    motion = _require(path, protocol, "motion", dict, "protocol.")
    for key in ("tracker", "variant", "reference"):
        _require(path, motion, key, str, "protocol.motion.")
    _require(path, motion, "tracker_config", dict, "protocol.motion.")
    rows = []
    for i, row in enumerate(_require(path, data, "rows", list)):
        if not isinstance(row, dict):
            raise _fail(path, f"rows[{i}]", row, "must be an object")
        method = _require(path, row, "method", str, f"rows[{i}].")
        values = {}
        for key, cell in _require(path, row, "metrics", dict, f"rows[{i}].").items():
            name = f"rows[{i}].metrics.{key}"
            if key not in METRICS:
                raise _fail(path, name, key, f"is not a known metric {list(METRICS)}")
            if not isinstance(cell, dict) or cell.get("label") != REPORTED_LABEL:
                raise _fail(path, name, cell, f"must be {{'value': <number>, 'label': {REPORTED_LABEL!r}}}")
            value = cell.get("value")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(path, name + ".value", value, "must be a number")
            values[key] = float(value)
        rows.append(ReportedRow(method, values))
    if num_clips <= 0:
        raise _fail(path, "protocol.num_clips", num_clips, "must be positive")
    return ReportedTable(path, citation, protocol, str(data.get("note", "")), tuple(rows))


def load_reported(path: str | os.PathLike = DEFAULT_REPORTED) -> ReportedTable:
    """Read and validate a reported table (default: the repository's ``leaderboard/reported.json``).

    Raises:
        ResultsError: the file is missing (the message says how to point at it), not JSON,
            or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(
            f"reported table {path} does not exist; pass --reported PATH "
            "(the repository's leaderboard/reported.json) or --no-reported"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from exc
    return parse_reported(data, path)
