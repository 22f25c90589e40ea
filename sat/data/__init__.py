"""Datasets, vocabulary, images and batching.

Layouts that :func:`load_dataset` expects under the data folder (``--data-dir``, else ``$SAT_DATA``, else
``~/.cache/sat/data``)::

    flickr8k/Flicker8k_Dataset/, flickr8k/Flickr8k_text/          "flickr8k" (official split files)
    flickr8k/dataset_flickr8k.json                                 "flickr8k-karpathy" (same images)
    flickr30k/dataset_flickr30k.json, flickr30k/flickr30k-images/  "flickr30k"
    coco/dataset_coco.json, coco/train2014/, coco/val2014/         "coco" (Karpathy split, restval → train)
    shapes/                                                        "shapes" (generated on first use)

Karpathy's JSON files come with his "deep image-sentence" data (``caption_datasets.zip``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..paths import data_dir as resolve_data_dir
from .batching import CaptionPairs, LengthBucketSampler, batch_features, caption_loader, collate_captions
from .coco import load_coco_captions
from . import download  # the module: sat.data.download.download(url, dest, …); a re-exported function would shadow it
from .download import DownloadError, download_flickr8k
from .errors import DataError
from .flickr8k import load_flickr8k
from .images import IMAGENET_MEAN, IMAGENET_STD, image_transform, load_image
from .karpathy import load_karpathy_json
from .records import SPLITS, CaptionDataset, ImageRecord, canonical_split, tokenize
from .shapes import ShapesDataset, box_cell_mask, load_shapes, make_shapes
from .vocab import Vocabulary

KARPATHY_LAYOUTS = {  # name → (folder, JSON file, image folder relative to the dataset folder)
    "flickr8k-karpathy": ("flickr8k", "dataset_flickr8k.json", "Flicker8k_Dataset"),
    "flickr30k": ("flickr30k", "dataset_flickr30k.json", "flickr30k-images"),
    "coco": ("coco", "dataset_coco.json", "."),
}
DATASETS = ("flickr8k", *KARPATHY_LAYOUTS, "shapes")


def load_dataset(name: str, data_dir: str | Path | None = None, **options: Any) -> CaptionDataset:
    """Load one of :data:`DATASETS` from its layout under the data folder (see the module docstring).

    ``options`` go to :func:`load_shapes` for ``"shapes"`` (``n_images``, ``seed``, ``image_size``) and to
    :func:`load_flickr8k` / :func:`load_karpathy_json` otherwise (``check_images``).
    """
    root = resolve_data_dir(data_dir)
    if name == "flickr8k":
        return load_flickr8k(root / "flickr8k", **options)
    if name == "shapes":
        return load_shapes(root / "shapes", **options)
    if name in KARPATHY_LAYOUTS:
        folder, json_name, images = KARPATHY_LAYOUTS[name]
        json_path = root / folder / json_name
        if not json_path.is_file():
            raise DataError(json_path, f"{name}: Karpathy split file not found (take it from caption_datasets.zip "
                                       f"and put it there, with the images in {root / folder / images})")
        options.setdefault("check_images", True)
        return load_karpathy_json(json_path, root / folder / images, **options)
    raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")


__all__ = [
    "SPLITS", "DATASETS", "CaptionDataset", "ImageRecord", "canonical_split", "tokenize", "Vocabulary", "DataError",
    "load_dataset", "load_flickr8k", "load_karpathy_json", "load_coco_captions",
    "load_image", "image_transform", "IMAGENET_MEAN", "IMAGENET_STD",
    "ShapesDataset", "make_shapes", "load_shapes", "box_cell_mask",
    "CaptionPairs", "LengthBucketSampler", "collate_captions", "batch_features", "caption_loader",
    "download", "download_flickr8k", "DownloadError",
]
