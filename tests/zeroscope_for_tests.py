"""Random-weight ZeroScope components in the ``cerspense/zeroscope_v2_576w`` layout, for tests and benchmarks.

ZeroScope is the ModelScope text-to-video architecture, so the components are those of
:mod:`modelscope_for_tests`: the tiny UNet3D keeps up block 1 as ZeroScope has it (a
``CrossAttnUpBlock3D`` with three resnets, three temporal convs and an upsampler), which is where
DMT's guidance features come from. The folder is what ``hf download cerspense/zeroscope_v2_576w``
gives for the diffusers components (``model_index.json``, ``unet/ text_encoder/ tokenizer/ vae/
scheduler/``); :func:`hub_cache` files it in a Hugging Face cache as the Hub client does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from modelscope_for_tests import save_base_folder, tiny_base_components

from amg_bench.methods.dmt.components import ZEROSCOPE_ID


def save_zeroscope_folder(folder: str | Path, seed: int = 0) -> Path:
    """Write tiny random ZeroScope components to ``folder`` (the Hub repo's diffusers layout)."""
    folder = Path(folder)
    save_base_folder(tiny_base_components(seed=seed), folder)
    return folder


def hub_cache(cache: str | Path, folder: str | Path, revision: str = "0" * 40) -> Path:
    """Copy a ZeroScope folder into ``cache`` as the Hub snapshot of ``cerspense/zeroscope_v2_576w`` (``main``)."""
    repo = Path(cache) / f"models--{ZEROSCOPE_ID.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return Path(cache)
