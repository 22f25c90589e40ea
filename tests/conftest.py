"""Shared pytest fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def flickr8k_root() -> Path:
    """The real Flickr8k folder: ``$SAT_DATA/flickr8k``, else ``<repo>/../shared/data/flickr8k``; skip if absent."""
    candidates = ([Path(os.environ["SAT_DATA"]) / "flickr8k"] if os.environ.get("SAT_DATA") else []) \
        + [REPO.parent / "shared" / "data" / "flickr8k"]
    for root in candidates:
        if (root / "Flickr8k_text").is_dir() and (root / "Flicker8k_Dataset").is_dir():
            return root
    pytest.skip(f"Flickr8k not found (looked in {', '.join(map(str, candidates))}); set SAT_DATA to its parent folder")
