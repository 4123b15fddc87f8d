"""The dataset card: YAML metadata the Hub and ``load_dataset`` read, plus the prose.

Filled from ``dataset_cards/avatar_motion.md`` (a Jinja template in huggingface_hub's
``DatasetCard.from_template`` convention) with the build's real counts, sizes and options.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from .writer import SplitStats

TEMPLATE = "avatar_motion.md"


def _template_path() -> Path:
    return Path(str(resources.files("amg_bench.dataset_cards") / TEMPLATE))


def size_category(num_rows: int) -> str:
    """The Hub's ``size_categories`` bucket for a row count."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if num_rows < limit:
            return name
    return "n>1M"


def render_card(
    folder: Path,
    features,
    splits: list[SplitStats],
    options: dict[str, Any],
    fingerprint: str,
    descriptions: dict[str, str],
) -> str:
    """Return the card text (front matter + prose) for a built dataset folder."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard, DatasetCardData

    split_dict = SplitDict()
    for split in splits:
        split_dict.add(SplitInfo(name=split.name, num_bytes=split.num_bytes, num_examples=split.num_examples))
    download_size = sum((folder / name).stat().st_size for s in splits for name in s.files)
    info = DatasetInfo(
        features=features,
        splits=split_dict,
        download_size=download_size,
        dataset_size=sum(s.num_bytes for s in splits),
    )
    card_data = DatasetCardData(
        pretty_name=options["pretty_name"],
        license=options["license"],
        task_categories=["text-to-video"],
        size_categories=[size_category(sum(s.num_examples for s in splits))],
        tags=["human-video-generation", "avatar", "smpl", "motion", "video", "amg-bench"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s.name, "path": f"data/{s.name}-*"} for s in splits],
            }
        ],
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    spec = options["windows"]
    test_size = options.get("test_size")
    card = DatasetCard.from_template(
        card_data,
        template_path=str(_template_path()),
        pretty_name=options["pretty_name"],
        version=__version__,
        repo_id=options.get("repo_id") or "<user>/<repo>",
        splits=splits,
        num_frames=spec["num_frames"],
        frame_step=spec["frame_step"],
        caption_offset=spec["caption_offset"],
        source_fps=f"{spec['source_fps']:g}",
        fps=f"{spec['source_fps'] / spec['frame_step']:g}",
        duration=f"{spec['num_frames'] * spec['frame_step'] / spec['source_fps']:g}",
        resolution=options["resolution"],
        with_pose_video=options["pose_video"],
        train_size=options["train_size"],
        test_rule=(
            "all the remaining windows form `test`" if test_size is None else f"the next {test_size} form `test`"
        ),
        split_gap=options["split_gap"],
        build_options=yaml.safe_dump(options, sort_keys=True).strip(),
        fingerprint=fingerprint,
        source_description=descriptions["sources"],
        render_description=descriptions["render"],
        pose_description=descriptions.get("pose", ""),
    )
    return str(card)
