"""Where data and caches live: an explicit argument, else an environment variable, else a per-user cache folder."""
from __future__ import annotations

import os
from pathlib import Path


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/sat`` (default ``~/.cache/sat``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sat"


def data_dir(explicit: str | Path | None = None) -> Path:
    """The folder holding datasets (``flickr8k/``, ``coco/``…): ``--data-dir``, else ``$SAT_DATA``, else the cache."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("SAT_DATA"):
        return Path(os.environ["SAT_DATA"]).expanduser()
    return user_cache_root() / "data"


def cache_dir(explicit: str | Path | None = None) -> Path:
    """The folder for derived files (encoder feature caches): argument, else ``$SAT_CACHE``, else the user cache."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("SAT_CACHE"):
        return Path(os.environ["SAT_CACHE"]).expanduser()
    return user_cache_root() / "cache"


def repo_root() -> Path:
    """The source checkout (where ``configs/``, ``checkpoints/`` and ``results/`` are), when run from one."""
    return Path(__file__).resolve().parent.parent
