"""Where a method's weights come from: a local folder, or a Hub repo named as such.

``weights/amg`` is both a relative folder and a syntactically valid Hub repo id, so a plain
string is ambiguous: a missing local folder would silently become a download from whoever owns
that repo on the Hub. Every model option of a built-in method therefore means a local folder,
unless it is written ``hub:<owner>/<name>`` (optionally ``@<revision>``), which is resolved by
``from_pretrained`` through the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``; offline with
``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MethodError, MissingWeightsError

HUB_PREFIX = "hub:"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class WeightsSource:
    """A resolved model location: ``path`` (a local folder) or ``repo_id`` (+ ``revision``) on the Hub."""

    text: str
    path: Path | None = None
    repo_id: str | None = None
    revision: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.repo_id is not None

    @property
    def pretrained(self) -> str:
        """What ``from_pretrained`` takes: the folder path or the repo id."""
        return self.repo_id if self.repo_id is not None else str(self.path)

    def download_hint(self) -> str:
        """The command that puts these weights where they are read from."""
        if self.is_hub:
            return f"`hf download {self.repo_id}` (into the Hugging Face cache; HF_HOME moves it)"
        return f"`hf download <repo> --local-dir {self.path}`"


def weights_source(value: str, option: str) -> WeightsSource:
    """Parse a model option: ``hub:<owner>/<name>[@revision]`` or a local folder.

    Raises:
        MethodError: an empty value or a malformed ``hub:`` id, naming ``option``.
    """
    if not isinstance(value, str) or not value.strip():
        raise MethodError(f"option {option} must name a local folder or hub:<owner>/<name>, got {value!r}")
    if value.startswith(HUB_PREFIX):
        repo, _, revision = value[len(HUB_PREFIX) :].partition("@")
        if not _REPO_ID.match(repo):
            raise MethodError(f"option {option}: {value!r} is not hub:<owner>/<name>[@revision]")
        return WeightsSource(value, repo_id=repo, revision=revision or None)
    return WeightsSource(value, path=Path(value).expanduser())


def require_local(source: WeightsSource, what: str, hint: str) -> None:
    """Fail with a :class:`MissingWeightsError` naming ``what`` and ``hint`` when a local folder is absent."""
    if source.path is not None and not source.path.is_dir():
        extra = (
            ""
            if "/" not in source.text or source.text.startswith((".", "/", "~"))
            else (f" (write hub:{source.text} to load a Hub repo of that name)")
        )
        raise MissingWeightsError(f"{what} folder {source.path} does not exist{extra}; {hint}")
