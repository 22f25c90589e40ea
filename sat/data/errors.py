"""One exception type for bad input: its message is a single line that names the file (and line)."""
from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad or missing input data. ``str(err)`` is one line: ``FILE[:LINE]: what is wrong``."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
