"""The dataset card: YAML metadata the Hub and ``load_dataset`` read, plus the prose.

Filled from ``dataset_cards/avatar_motion.md`` (a Jinja template in huggingface_hub's
``DatasetCard.from_template`` convention) with the build's real counts, sizes and options.
The metadata follows the Hub's dataset-card fields: ``license`` (with ``license_name`` and
``license_link`` when it is ``other``), ``language`` of the captions, ``annotations_creators``
(captions and motion come from models), ``source_datasets``, ``task_categories``,
``size_categories``, ``tags``, ``configs`` and ``dataset_info``. The usage snippet names
:data:`REPO_PLACEHOLDER` until ``publish`` fills in the repo id (:func:`card_for_repo`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from .writer import SplitStats

TEMPLATE = "avatar_motion.md"
REPO_PLACEHOLDER = "<user>/<repo>"
# license_name / license_link of a licence "other" when the build names none: the card's own
# Licence section, which says the terms are those of the source videos.
DEFAULT_LICENSE_NAME = "source-video-terms"
DEFAULT_LICENSE_LINK = "README.md"


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
    licence_terms = {}
    if options["license"] == "other":
        licence_terms = {
            "license_name": options.get("license_name") or DEFAULT_LICENSE_NAME,
            "license_link": options.get("license_link") or DEFAULT_LICENSE_LINK,
        }
    card_data = DatasetCardData(
        pretty_name=options["pretty_name"],
        license=options["license"],
        language=["en"],
        annotations_creators=["machine-generated"],
        source_datasets=["original"],
        task_categories=["text-to-video"],
        size_categories=[size_category(sum(s.num_examples for s in splits))],
        tags=["human-video-generation", "avatar", "smpl", "motion", "video", "amg-bench"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s.name, "path": f"data/{s.name}-*"} for s in splits],
            }
        ],
        **licence_terms,
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    spec = options["windows"]
    test_size = options.get("test_size")
    card = DatasetCard.from_template(
        card_data,
        template_path=str(_template_path()),
        pretty_name=options["pretty_name"],
        version=__version__,
        repo_id=REPO_PLACEHOLDER,
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
        stride=spec.get("stride", 1),
        license=options["license"],
        license_name=licence_terms.get("license_name"),
        license_link=licence_terms.get("license_link"),
        build_options=yaml.safe_dump(options, sort_keys=True).strip(),
        fingerprint=fingerprint,
        source_description=descriptions["sources"],
        render_description=descriptions["render"],
        pose_description=descriptions.get("pose", ""),
        avatar_style=options.get("avatar_style", "flat"),
        with_controls=bool(options.get("controls")),
        controls_description=descriptions.get("controls", ""),
    )
    return str(card)


def card_for_repo(text: str, repo_id: str) -> str:
    """The card ``text`` with the usage snippet's :data:`REPO_PLACEHOLDER` replaced by ``repo_id``."""
    return text.replace(f'load_dataset("{REPO_PLACEHOLDER}")', f'load_dataset("{repo_id}")')
