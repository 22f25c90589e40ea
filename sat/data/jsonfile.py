"""Read a JSON file, turning every way it can be unreadable into a one-line :class:`DataError` naming the file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DataError


def read_json(path: str | Path) -> Any:
    """Parse ``path``; a missing file, malformed JSON (with its line) or non-UTF-8 bytes raise :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "JSON file not found")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(path, f"malformed JSON: {err.msg} (column {err.colno})", err.lineno) from None
    except UnicodeDecodeError as err:
        raise DataError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None
