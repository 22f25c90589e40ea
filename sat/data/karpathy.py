"""Reader for Karpathy's split files ``dataset_{flickr8k,flickr30k,coco}.json`` (neuraltalk / neuraltalk2)::

    {"dataset": "coco",
     "images": [{"filepath": "val2014", "filename": "COCO_val2014_000000391895.jpg", "cocoid": 391895,
                 "split": "restval", "sentences": [{"tokens": ["a", "man", ...], "raw": "A man ..."}, ...]}, ...]}

``filepath`` exists only in the COCO file; there the record's file name is ``filepath/filename`` relative to the COCO
root. ``restval`` (the 30k COCO validation images Karpathy moved to training) becomes ``train``. Tokens are taken from
the file (Karpathy's own tokenisation) when present, else :func:`~sat.data.records.tokenize` is applied to ``raw``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import DataError
from .jsonfile import read_json
from .records import CaptionDataset, ImageRecord, canonical_split, tokenize
from .scan import drop_missing_images


def _sentence(path: Path, where: str, sentence: Any) -> tuple[str, list[str]]:
    """One ``sentences[]`` entry to ``(raw, tokens)``; raise on a missing or empty caption."""
    if not isinstance(sentence, dict) or ("tokens" not in sentence and "raw" not in sentence):
        raise DataError(path, f"{where}: a sentence needs 'tokens' or 'raw'")
    tokens = sentence.get("tokens")
    raw = sentence.get("raw")
    if tokens is None:
        tokens = tokenize(str(raw))
    elif not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(path, f"{where}: 'tokens' must be a list of strings")
    tokens = [t.lower() for t in tokens if t.strip()]
    if not tokens:
        raise DataError(path, f"{where}: empty caption")
    return (str(raw).strip() if raw is not None else " ".join(tokens)), tokens


def _image(path: Path, index: int, entry: Any) -> ImageRecord:
    """One ``images[]`` entry to an :class:`ImageRecord`."""
    where = f"images[{index}]"
    if not isinstance(entry, dict):
        raise DataError(path, f"{where}: expected an object, got {type(entry).__name__}")
    for key in ("filename", "split", "sentences"):
        if key not in entry:
            raise DataError(path, f"{where}: missing key {key!r}")
    try:
        split = canonical_split(str(entry["split"]))
    except ValueError as err:
        raise DataError(path, f"{where}: {err}") from None
    if not isinstance(entry["sentences"], list):
        raise DataError(path, f"{where}: 'sentences' must be a list")
    pairs = [_sentence(path, f"{where}.sentences[{j}]", s) for j, s in enumerate(entry["sentences"])]
    if not pairs:
        raise DataError(path, f"{where}: image {entry['filename']!r} has no sentences")
    filename = str(entry["filename"])
    if entry.get("filepath"):
        filename = f"{entry['filepath']}/{filename}"
    return ImageRecord(
        filename=filename,
        split=split,
        captions=[raw for raw, _ in pairs],
        tokens=[tokens for _, tokens in pairs],
        image_id=entry.get("cocoid"),
    )


def load_karpathy_json(path: str | Path, image_root: str | Path, check_images: bool = False) -> CaptionDataset:
    """Read a Karpathy ``dataset_*.json`` into a :class:`CaptionDataset` whose files live under ``image_root``.

    Malformed JSON, a missing key, an unknown split or an empty caption raise :class:`DataError` naming the file and
    the image index. With ``check_images`` the images missing under ``image_root`` are dropped with one warning that
    counts and lists them.
    """
    path = Path(path)
    document = read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DataError(path, "not a Karpathy split file: expected an object with an 'images' list")
    images = [_image(path, i, entry) for i, entry in enumerate(document["images"])]
    name = str(document.get("dataset") or path.stem.removeprefix("dataset_"))
    if check_images:
        images = drop_missing_images(images, Path(image_root), name)
    return CaptionDataset(name, Path(image_root), images)
