"""CoTracker through ``torch.hub``: the benchmark's reference tracker.

Loading (facts from facebookresearch/co-tracker's ``hubconf.py``):
- ``torch.hub.load("facebookresearch/co-tracker", "cotracker3_offline")`` by default;
  ``torch.hub.load("facebookresearch/co-tracker:v1.0", "cotracker_w8")`` is the CoTracker v1
  model DMT's motion-fidelity script used (checkpoint ``cotracker_stride_4_wind_8.pth``).
- Each hub entry takes ``pretrained``; with ``True`` it downloads its checkpoint with
  ``torch.hub.load_state_dict_from_url`` into ``<torch hub dir>/checkpoints/``.
- Offline: point ``repo`` (or ``$AMG_BENCH_COTRACKER_DIR``) at a local clone and the hub loads it
  with ``source="local"``; pass ``checkpoint`` (or ``$AMG_BENCH_COTRACKER_CHECKPOINT``) to build the
  entry with ``pretrained=False`` and load that state dict (``torch.load(weights_only=True)`` or
  safetensors) into ``predictor.model``.
- The hub runs the repository's own ``hubconf.py``: only the official repository is trusted
  (``trust_repo=True`` for it), or a directory the user names.

Calling (the DMT protocol): ``predictor(video, grid_size=n, grid_query_frame=q,
backward_tracking=False)`` with ``video`` float 0-255 shaped ``(1, T, 3, H, W)``; it returns tracks
``(1, T, n*n, 2)`` in input pixels and visibilities ``(1, T, n*n)`` (its predictor thresholds
them at 0.9). A point not visible in a frame is reported not tracked there; whether motion
fidelity drops such points is the protocol's choice (the DMT script ignores visibility). CoTracker places the grid itself; we check that its query-frame points are the shared
grid of :func:`~amg_bench.metrics.tracking.grid_points`, which also catches tracks returned in
the model's 384 x 512 frame instead of the video's pixels.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np

from ...errors import MissingWeightsError, TrackerError
from ...files import sha256_file
from ..tracking import Tracker, grid_points

DEFAULT_MODEL = "cotracker3_offline"
HUB_REPO = "facebookresearch/co-tracker"
ENV_DIR = "AMG_BENCH_COTRACKER_DIR"
ENV_CHECKPOINT = "AMG_BENCH_COTRACKER_CHECKPOINT"

# Hub entry -> (repository ref it lives in, checkpoint the entry downloads). From hubconf.py.
_KNOWN_MODELS = {
    "cotracker3_offline": (HUB_REPO, "https://huggingface.co/facebook/cotracker3/resolve/main/scaled_offline.pth"),
    "cotracker3_online": (HUB_REPO, "https://huggingface.co/facebook/cotracker3/resolve/main/scaled_online.pth"),
    "cotracker2": (HUB_REPO, "https://huggingface.co/facebook/cotracker/resolve/main/cotracker2.pth"),
    "cotracker2v1": (HUB_REPO, "https://huggingface.co/facebook/cotracker/resolve/main/cotracker2v1.pth"),
    "cotracker_w8": (f"{HUB_REPO}:v1.0", "https://dl.fbaipublicfiles.com/cotracker/cotracker_stride_4_wind_8.pth"),
}
_OFFLINE_ERRORS = (URLError, ConnectionError, TimeoutError, socket.timeout)


def grid_tolerance(height: int, width: int) -> float:
    """Largest query-point offset (px) accepted between CoTracker's grid and ours.

    Covers CoTracker v1's ``W / 512`` mapping (see :mod:`amg_bench.metrics.tracking`) with room
    to spare: 0.5 px plus 0.2% of the longer side.
    """
    return 0.5 + 0.002 * max(height, width)


class CoTrackerTracker(Tracker):
    """CoTracker loaded with ``torch.hub``.

    Args:
        model: hub entry name (``cotracker3_offline``; ``cotracker_w8`` for the DMT protocol).
        repo: ``owner/name[:ref]`` on GitHub, or a local clone directory. Default:
            ``$AMG_BENCH_COTRACKER_DIR`` if set, else the official repository (at tag ``v1.0``
            for ``cotracker_w8``).
        source: ``"github"`` or ``"local"``; default ``"local"`` when ``repo`` is a directory.
        checkpoint: state-dict file to load instead of the entry's download
            (default ``$AMG_BENCH_COTRACKER_CHECKPOINT``).
        device: torch device for the model and video.

    Raises:
        TrackerError: bad source, a local directory without ``hubconf.py``, an unknown entry,
            or a checkpoint that does not fit the model.
        MissingWeightsError: code or weights are not available offline (the message says what to
            download and where), or ``checkpoint`` does not exist.
    """

    name = "cotracker"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        repo: str | os.PathLike | None = None,
        source: str | None = None,
        checkpoint: str | os.PathLike | None = None,
        device: str = "cpu",
    ):
        self.model_name = model
        named_dir = repo is not None or bool(os.environ.get(ENV_DIR))
        if repo is None:
            repo = os.environ.get(ENV_DIR) or _KNOWN_MODELS.get(model, (HUB_REPO, ""))[0]
        self.repo = str(repo)
        if source is None:
            # A local folder only when the user named one: the default "facebookresearch/co-tracker" is
            # also a relative path, and a folder of that name in the working directory must never run.
            source = "local" if named_dir and Path(self.repo).is_dir() else "github"
        if source not in ("github", "local"):
            raise TrackerError(f"source must be 'github' or 'local', got {source!r}")
        self.source = source
        if checkpoint is None:
            checkpoint = os.environ.get(ENV_CHECKPOINT) or None
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.device = str(device)
        self._checkpoint_sha256: str | None = None
        self._predictor = self._load()

    def _load(self):
        import torch

        if self.source == "local" and not (Path(self.repo) / "hubconf.py").is_file():
            raise TrackerError(
                f"CoTracker directory {self.repo} has no hubconf.py; clone https://github.com/{HUB_REPO} "
                f"there (git checkout v1.0 for cotracker_w8) or unset {ENV_DIR}"
            )
        if self.source == "github" and self.repo.split(":")[0] != HUB_REPO:
            raise TrackerError(
                f"only {HUB_REPO} is loaded from GitHub (torch.hub runs the repository's code), got {self.repo!r}; "
                "clone another repository yourself and pass its directory"
            )
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise MissingWeightsError(f"CoTracker checkpoint {self.checkpoint} does not exist; {self._hint()}")
        try:
            predictor = torch.hub.load(
                self.repo,
                self.model_name,
                source=self.source,
                pretrained=self.checkpoint is None,
                trust_repo=True,  # only the official repository or a directory the user named reach here
                verbose=False,
            )
        except _OFFLINE_ERRORS as exc:
            raise MissingWeightsError(
                f"CoTracker {self.model_name!r} from {self.repo} could not be loaded offline ({exc}); {self._hint()}"
            ) from exc
        except RuntimeError as exc:
            if "internet" in str(exc):  # torch.hub: repository code not cached and no connection
                raise MissingWeightsError(
                    f"CoTracker code {self.repo} is not cached and there is no connection; {self._hint()}"
                ) from exc
            raise TrackerError(f"cannot load CoTracker {self.model_name!r} from {self.repo}: {exc}") from exc
        if self.checkpoint is not None:
            self._load_checkpoint(predictor)
        return predictor.to(self.device).eval()

    def _load_checkpoint(self, predictor) -> None:
        import torch

        if not isinstance(getattr(predictor, "model", None), torch.nn.Module):
            raise TrackerError(f"hub entry {self.model_name!r} has no .model to load checkpoint {self.checkpoint} into")
        if self.checkpoint.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(self.checkpoint, device="cpu")
        else:
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]  # training checkpoints wrap the weights
        try:
            predictor.model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise TrackerError(
                f"checkpoint {self.checkpoint} does not fit CoTracker {self.model_name!r}: {exc}"
            ) from exc

    def _hint(self) -> str:
        import torch

        url = _KNOWN_MODELS.get(self.model_name, ("", ""))[1]
        weights = (
            f"download {url} into {Path(torch.hub.get_dir()) / 'checkpoints'} (or anywhere, then pass "
            f"checkpoint=<file> / set {ENV_CHECKPOINT})"
            if url
            else f"pass checkpoint=<state-dict file> or set {ENV_CHECKPOINT}"
        )
        ref = " && git -C co-tracker checkout v1.0" if self.model_name == "cotracker_w8" else ""
        return (
            f"{weights}; for the code run `git clone https://github.com/{HUB_REPO}{ref}` "
            f"and set {ENV_DIR}=<that directory>; or use the weight-free tracker 'klt'"
        )

    def _track(self, video: np.ndarray, grid_size: int, query_frame: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        num_frames, height, width = video.shape[:3]
        clip = torch.from_numpy(np.ascontiguousarray(video)).to(self.device).permute(0, 3, 1, 2)[None].float()
        with torch.no_grad():
            output = self._predictor(clip, grid_size=grid_size, grid_query_frame=query_frame, backward_tracking=False)
        if not isinstance(output, (tuple, list)) or len(output) < 2:
            raise TrackerError(
                f"CoTracker {self.model_name!r} returned {type(output).__name__}, expected (tracks, visibility)"
            )
        tracks, visibility = output[0], output[1]
        expected = (1, num_frames, grid_size**2, 2)
        if not isinstance(tracks, torch.Tensor) or tuple(tracks.shape) != expected:
            shape = tuple(tracks.shape) if isinstance(tracks, torch.Tensor) else type(tracks).__name__
            raise TrackerError(f"CoTracker {self.model_name!r} returned tracks {shape}, expected {expected}")
        if not isinstance(visibility, torch.Tensor) or tuple(visibility.shape) != expected[:3]:
            shape = tuple(visibility.shape) if isinstance(visibility, torch.Tensor) else type(visibility).__name__
            raise TrackerError(f"CoTracker {self.model_name!r} returned visibility {shape}, expected {expected[:3]}")
        tracks = tracks[0].float().cpu().numpy()
        visible = visibility[0].cpu().numpy()
        visible = visible if visible.dtype == bool else visible > 0.5
        offset = float(np.abs(tracks[query_frame] - grid_points(height, width, grid_size)).max())
        if not offset <= grid_tolerance(height, width):
            raise TrackerError(
                f"CoTracker {self.model_name!r} query points differ from the shared grid by {offset:.2f} px "
                f"(tolerance {grid_tolerance(height, width):.2f}) for a {height}x{width} video: the tracks are "
                "not in the video's pixel coordinates or the model places its grid differently"
            )
        return tracks, visible

    def config(self) -> dict[str, Any]:
        if self._checkpoint_sha256 is None and self.checkpoint is not None:
            self._checkpoint_sha256 = sha256_file(self.checkpoint)
        tag = None
        if self.source == "github":
            tag = self.repo.split(":", 1)[1] if ":" in self.repo else "default branch"
        return {
            "name": self.name,
            "approximation": False,
            "model": self.model_name,
            "repo": self.repo,
            "source": self.source,
            "tag": tag,
            "checkpoint": self.checkpoint if self.checkpoint else "hub default",
            "checkpoint_sha256": self._checkpoint_sha256,
            "backward_tracking": False,
            "input": "float 0-255 (1, T, 3, H, W)",
            "tracked": "visibility (predictor threshold 0.9)",
        }
