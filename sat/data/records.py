"""The one in-memory form every dataset reader produces.

A dataset is a list of images; each image knows its split, its file and its captions, both raw and tokenised.
Splits are named ``train``, ``val`` and ``test`` (Karpathy's names; Flickr8k's "dev" split is ``val``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"dev": "val", "valid": "val", "validation": "val", "restval": "train"}

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and keep its alphanumeric tokens (the preprocessing of Karpathy and of the paper)."""
    return _TOKEN.findall(text.lower())


def canonical_split(name: str) -> str:
    """Map a split name or alias (``dev``, ``restval``) to ``train``/``val``/``test``; raise on anything else."""
    key = name.strip().lower()
    key = SPLIT_ALIASES.get(key, key)
    if key not in SPLITS:
        raise ValueError(f"unknown split {name!r}: expected one of {', '.join(SPLITS)} (or dev, restval)")
    return key


@dataclass
class ImageRecord:
    """One image and its reference captions."""

    filename: str  # path relative to ``CaptionDataset.image_root`` (COCO: "val2014/COCO_val2014_...jpg")
    split: str  # "train" | "val" | "test"
    captions: list[str] = field(default_factory=list)  # raw reference sentences
    tokens: list[list[str]] = field(default_factory=list)  # tokenised, lower-case, one list per caption
    image_id: str | int | None = None  # dataset's own id (COCO id); defaults to filename

    @property
    def key(self) -> str:
        """The id used in result files (``captions.json``): the dataset id if any, else the file name."""
        return str(self.image_id) if self.image_id is not None else Path(self.filename).name


@dataclass
class CaptionDataset:
    """Images with splits and captions, plus the folder their files live in."""

    name: str
    image_root: Path
    images: list[ImageRecord]

    def split(self, name: str) -> list[ImageRecord]:
        """The images of one split (``dev`` is accepted for ``val``)."""
        key = canonical_split(name)
        return [im for im in self.images if im.split == key]

    def split_sizes(self) -> dict[str, int]:
        return {s: sum(im.split == s for im in self.images) for s in SPLITS}

    def image_path(self, record: ImageRecord) -> Path:
        return Path(self.image_root) / record.filename

    def __len__(self) -> int:
        return len(self.images)
