"""Drop the records whose image file is absent, with one warning that counts and lists them (never silently)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from .errors import DataError
from .records import ImageRecord


def _names_in(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def drop_missing_images(images: list[ImageRecord], image_root: Path, dataset: str) -> list[ImageRecord]:
    """Keep the records whose file exists under ``image_root``; warn once about the others.

    Each folder is listed once (fast for COCO's 120k files). A missing ``image_root`` raises :class:`DataError`.
    """
    if not image_root.is_dir():
        raise DataError(image_root, f"{dataset}: image folder not found")
    listings: dict[Path, set[str]] = {}
    kept, missing = [], []
    for record in images:
        file = image_root / record.filename
        if file.parent not in listings:
            listings[file.parent] = _names_in(file.parent)
        (kept if file.name in listings[file.parent] else missing).append(record)
    if missing:
        shown = ", ".join(r.filename for r in missing[:10]) + (" …" if len(missing) > 10 else "")
        warnings.warn(f"{dataset}: skipped {len(missing)} image(s) missing from {image_root}: {shown}", stacklevel=3)
    return kept
