"""Reader for the official COCO caption annotations (``annotations/captions_{train,val}2014.json``)::

    {"images": [{"id": 391895, "file_name": "COCO_val2014_000000391895.jpg", ...}, ...],
     "annotations": [{"id": 770337, "image_id": 391895, "caption": "A man with a red helmet ..."}, ...]}

One file is one split; use :func:`~sat.data.karpathy.load_karpathy_json` with ``dataset_coco.json`` for Karpathy's
113287 / 5000 / 5000 split of the same images.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path

from .errors import DataError
from .jsonfile import read_json
from .records import CaptionDataset, ImageRecord, canonical_split, tokenize
from .scan import drop_missing_images


def _require(path: Path, where: str, entry: object, keys: tuple[str, ...]) -> dict:
    if not isinstance(entry, dict):
        raise DataError(path, f"{where}: expected an object, got {type(entry).__name__}")
    for key in keys:
        if key not in entry:
            raise DataError(path, f"{where}: missing key {key!r}")
    return entry


def load_coco_captions(annotation_json: str | Path, image_root: str | Path, split: str,
                       check_images: bool = False) -> CaptionDataset:
    """Read a COCO captions file; every image gets ``split``; files are ``image_root/file_name``.

    Malformed JSON, a missing key, an annotation naming an unknown image, an empty caption or an unknown split raise
    :class:`DataError` naming the file (and the entry). Images without any caption, and with ``check_images`` images
    missing on disk, are dropped with one warning that counts and lists them.
    """
    path = Path(annotation_json)
    try:
        split = canonical_split(split)
    except ValueError as err:
        raise DataError(path, str(err)) from None
    document = read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("images"), list) \
            or not isinstance(document.get("annotations"), list):
        raise DataError(path, "not a COCO captions file: expected an object with 'images' and 'annotations' lists")
    file_of: dict[int, str] = {}
    for i, entry in enumerate(document["images"]):
        entry = _require(path, f"images[{i}]", entry, ("id", "file_name"))
        file_of[entry["id"]] = str(entry["file_name"])
    captions: dict[int, list[str]] = defaultdict(list)
    for i, entry in enumerate(document["annotations"]):
        entry = _require(path, f"annotations[{i}]", entry, ("image_id", "caption"))
        if entry["image_id"] not in file_of:
            raise DataError(path, f"annotations[{i}]: image_id {entry['image_id']!r} is not in 'images'")
        if not tokenize(str(entry["caption"])):
            raise DataError(path, f"annotations[{i}]: empty caption for image {entry['image_id']!r}")
        captions[entry["image_id"]].append(str(entry["caption"]).strip())
    images, uncaptioned = [], []
    for image_id, filename in file_of.items():
        if image_id in captions:
            caps = captions[image_id]
            images.append(ImageRecord(filename, split, caps, [tokenize(c) for c in caps], image_id=image_id))
        else:
            uncaptioned.append(filename)
    if uncaptioned:
        shown = ", ".join(uncaptioned[:10]) + (" …" if len(uncaptioned) > 10 else "")
        warnings.warn(f"{path}: skipped {len(uncaptioned)} image(s) without captions: {shown}", stacklevel=2)
    if check_images:
        images = drop_missing_images(images, Path(image_root), "coco")
    return CaptionDataset("coco", Path(image_root), images)
