"""Helpers shared by the book tools (``tools/*.py``) and the book tests (``tests/test_book*.py``,
``tests/test_notebooks*.py``).

Layout of a build (all under ``_build/``, never over the sources)::

    _build/executed/notebooks/NN_name.ipynb   papermill's output (cwd of the kernel: that folder)
    _build/executed/timings.json             seconds per notebook
    _build/stage/                            _config.yml, _toc.yml, book/, notebooks/ (executed) -> jupyter-book
    _build/html/                             the book
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "_build"
EXECUTED = BUILD / "executed"
EXECUTED_NOTEBOOKS = EXECUTED / "notebooks"
STAGE = BUILD / "stage"
HTML = BUILD / "html"
TOC = ROOT / "_toc.yml"

# Volatile metadata that committed notebooks must not carry (nbstripout --extra-keys removes it).
VOLATILE_KEYS = ("metadata.papermill", "cell.metadata.papermill", "cell.metadata.execution",
                 "metadata.language_info.version", "metadata.widgets")
SKIP_TAG, REMOVE_TAG, PARAMETERS_TAG, INJECTED_TAG = "skip-execution", "remove-cell", "parameters", "injected-parameters"


# ------------------------------------------------------------------------------------------------------------------ toc
def toc_entries(toc_path: Path = TOC) -> list[str]:
    """Every document of ``_toc.yml`` (root first), as paths without suffix relative to the book root."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text())
    found: list[str] = [toc["root"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return [str(Path(f).with_suffix("")) if Path(f).suffix in (".md", ".ipynb") else f for f in found]


def source_of(entry: str, root: Path = ROOT) -> Path | None:
    """The file behind a toc entry (``.ipynb`` or ``.md``), or None."""
    for suffix in (".ipynb", ".md"):
        path = root / f"{entry}{suffix}"
        if path.is_file():
            return path
    return None


def source_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


# ------------------------------------------------------------------------------------------------------------ notebooks
def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def text_of(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ADDR = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
_TQDM = re.compile(r"(\d+%\|.*\|)|(\d+(\.\d+)?\s*(it/s|s/it|B/s|kB/s|MB/s))|\[\d+:\d+(:\d+)?<[^\]]*\]")
_DURATION = re.compile(r"\b\d+(\.\d+)?\s*(ms|µs|us|ns|s|sec|secs|seconds|min|mins|minutes|h)\b")
_FLOAT = re.compile(r"(?<![\w.])(-?\d+\.\d{4,})(?:[eE][-+]?\d+)?(?![\w.])")
_TMP = re.compile(r"/tmp/[^\s'\"]+")
_SITE = re.compile(r"[^\s'\"]*/(site-packages|dist-packages|lib/python3\.\d+)/")


def normalise_text(text: str) -> str:
    """Text output with its volatile bits masked: ANSI codes, carriage-return progress, tqdm bars, memory addresses,
    durations, temporary paths, installed-package paths, the checkout and data folders, and floats beyond 3 decimals
    (thread-order noise)."""
    text = _ANSI.sub("", text)
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.split("\r")[-1]  # what a terminal shows after carriage returns
        if _TQDM.search(line):
            continue
        lines.append(line)
    text = "\n".join(lines)
    for folder, name in ((os.environ.get("SAT_DATA"), "<DATA>"), (os.environ.get("SAT_CACHE"), "<CACHE>"),
                         (str(EXECUTED_NOTEBOOKS), "<NOTEBOOKS>"), (str(NOTEBOOKS), "<NOTEBOOKS>"),
                         (str(ROOT), "<REPO>")):
        if folder:
            text = text.replace(str(Path(folder).resolve()), name).replace(folder, name)
    text = _SITE.sub("<SITE>/", text)  # the venv of whoever executed it
    text = _ADDR.sub("0x<ADDR>", text)
    text = _TMP.sub("<TMP>", text)
    text = _DURATION.sub("<DURATION>", text)
    text = _FLOAT.sub(lambda m: f"{float(m.group(0)):.3f}", text)
    return text.strip()


IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


def output_summary(cell: dict) -> dict:
    """What a code cell showed, volatile bits masked: the text (streams, text/plain, errors) and the image count."""
    texts, images, errors = [], 0, []
    previous_stream = None  # the kernel splits one stream into chunks at timing-dependent places: join them
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") == previous_stream:
            texts[-1] += text_of(out.get("text"))
            continue
        previous_stream = out.get("name") if kind == "stream" else None
        if kind == "stream":
            texts.append(f"[{out.get('name')}] " + text_of(out.get("text")))
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if any(m in data for m in IMAGE_MIMES):
                images += 1
            elif "text/plain" in data:
                texts.append(text_of(data["text/plain"]))
            elif "text/html" in data:
                texts.append("[html]")
            # glue: the value itself lives in a papermill/scrapbook mime bundle
            for mime, value in data.items():
                if mime.startswith("application/papermill.record/text/plain"):
                    texts.append(text_of(value))
        elif kind == "error":
            errors.append(f"{out.get('ename')}: {out.get('evalue')}")
    return {"text": normalise_text("\n".join(texts)), "images": images, "errors": errors}


def cell_key(cell: dict, index: int) -> str:
    return cell.get("id") or f"#{index}"


def glued(nb: dict) -> dict[str, str]:
    """``{key: text/plain}`` of every value glued with ``myst_nb.glue`` in an (executed) notebook."""
    values: dict[str, str] = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            meta = out.get("metadata", {}) or {}
            name = (meta.get("scrapbook") or {}).get("name")
            if name is not None:
                data = out.get("data", {})
                plain = data.get("text/plain", data.get("application/papermill.record/text/plain", ""))
                values[name] = text_of(plain)
    return values


_GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>[a-z]+))?\}`(?P<body>[^`]+)`")


def glue_references(source: dict | str) -> Iterator[tuple[str, str, str]]:
    """``(kind, body, raw)`` for every ``{glue}``/``{glue:text}``… role in a notebook's markdown cells or a text;
    ``body`` is ``[path::]key[:format]``."""
    if isinstance(source, str):
        texts = [source]
    else:
        texts = [text_of(c.get("source")) for c in source.get("cells", []) if c.get("cell_type") == "markdown"]
    for text in texts:
        for m in _GLUE_ROLE.finditer(text):
            yield m.group("kind") or "any", m.group("body"), m.group(0)


# ------------------------------------------------------------------------------------------------------------ hashing
def sha256_of(paths: list[Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def files_under(*folders: str, exclude: tuple[str, ...] = ("__pycache__", ".ipynb_checkpoints")) -> list[Path]:
    found = []
    for folder in folders:
        base = ROOT / folder
        if base.is_file():
            found.append(base)
        elif base.is_dir():
            found += [p for p in base.rglob("*") if p.is_file() and not any(part in exclude for part in p.parts)]
    return found
