"""Reader for the official Flickr8k layout (the two public archives, unpacked side by side)::

    ROOT/Flicker8k_Dataset/*.jpg                       (8091 images; the misspelling is the archive's own)
    ROOT/Flickr8k_text/Flickr8k.token.txt              (IMAGE#N<TAB>caption, 5 per image)
    ROOT/Flickr8k_text/Flickr_8k.{train,dev,test}Images.txt   (6000 / 1000 / 1000 file names)
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path

from .errors import DataError
from .records import CaptionDataset, ImageRecord, tokenize

IMAGE_DIR = "Flicker8k_Dataset"
TEXT_DIR = "Flickr8k_text"
TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt", "test": "Flickr_8k.testImages.txt"}


def read_token_file(path: str | Path) -> dict[str, list[str]]:
    """Parse ``IMAGE#N<TAB>caption`` lines into ``{image: [captions]}``; a malformed line raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "caption file not found")
    captions: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8", errors="strict") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            key, sep, caption = line.partition("\t")
            image, hash_, index = key.rpartition("#")[0], "#" in key, key.rpartition("#")[2]
            if not sep or not hash_ or not image or not index.isdigit():
                raise DataError(path, f"malformed line (expected IMAGE#N<TAB>caption): {line[:60]!r}", number)
            if not tokenize(caption):
                raise DataError(path, f"empty caption for {image}#{index}", number)
            captions[image].append(caption.strip())
    return dict(captions)


def read_split_file(path: str | Path) -> list[str]:
    """The image file names listed in a split file, one per non-blank line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "split file not found")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_flickr8k(root: str | Path, check_images: bool = True) -> CaptionDataset:
    """Read Flickr8k from ``root`` (the folder holding ``Flicker8k_Dataset/`` and ``Flickr8k_text/``).

    Images named in a split file but missing on disk (or without captions) are dropped with one warning that counts
    and lists them; captions of images outside the three splits are ignored (the public release names one such id).
    """
    root = Path(root)
    text = root / TEXT_DIR
    image_root = root / IMAGE_DIR
    if not text.is_dir() or (check_images and not image_root.is_dir()):
        raise DataError(root, f"not a Flickr8k folder: expected {IMAGE_DIR}/ and {TEXT_DIR}/ inside "
                              "(run `sat data download flickr8k` or point --data-dir/SAT_DATA at it)")
    captions = read_token_file(text / TOKEN_FILE)
    on_disk = {p.name for p in image_root.iterdir()} if check_images else None
    images, missing, uncaptioned = [], [], []
    for split, fname in SPLIT_FILES.items():
        for name in read_split_file(text / fname):
            if on_disk is not None and name not in on_disk:
                missing.append(name)
            elif name not in captions:
                uncaptioned.append(name)
            else:
                caps = captions[name]
                images.append(ImageRecord(name, split, caps, [tokenize(c) for c in caps]))
    for problem, names in (("missing from " + str(image_root), missing), ("without captions", uncaptioned)):
        if names:
            shown = ", ".join(names[:10]) + (" …" if len(names) > 10 else "")
            warnings.warn(f"Flickr8k: skipped {len(names)} image(s) {problem}: {shown}", stacklevel=2)
    return CaptionDataset("flickr8k", image_root, images)
