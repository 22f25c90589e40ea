"""Resumable downloads (HTTP Range into ``DEST.part``) with a progress bar and SHA-256 check, and Flickr8k's fetch.

Only the standard library's :mod:`urllib` is used. Offline, every failure is one sentence naming the URL and where to
put the file by hand.
"""
from __future__ import annotations

import hashlib
import shutil
import socket
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from ..paths import data_dir as resolve_data_dir
from .flickr8k import IMAGE_DIR, SPLIT_FILES, TEXT_DIR, TOKEN_FILE

FLICKR8K_URLS = {
    "Flickr8k_Dataset.zip": "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip",
    "Flickr8k_text.zip": "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_text.zip",
}
FLICKR8K_SHA256: dict[str, str | None] = {name: None for name in FLICKR8K_URLS}  # unknown: printed after download
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that failed; the message is one sentence saying which URL and what to do by hand."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(dest: Path, sha256: str | None) -> None:
    digest = sha256_of(dest)
    if sha256 is None:
        print(f"sha256 {digest}  {dest.name} (no checksum given; record it to verify later downloads)",
              file=sys.stderr)
    elif digest != sha256.lower():
        dest.unlink()
        raise DownloadError(f"Checksum mismatch for {dest} (expected sha256 {sha256}, got {digest}); "
                            f"the file was removed, so download it again.")


def _open(url: str, offset: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "sat-downloader"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _transfer(url: str, part: Path, progress: bool, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (restart it if the server ignores the Range header)."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not offset:  # 416: the .part already holds the whole file
            raise
        return
    with response:
        if offset and response.status != 206:  # the server sent the whole file: start over
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with open(part, "ab" if offset else "wb") as out, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=part.name.removesuffix(".part"), disable=not progress, file=sys.stderr) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size < total:
        raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")


def download(url: str, dest: str | Path, sha256: str | None = None, progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` unless it is already there (and matches ``sha256``); return ``dest``.

    Bytes arrive in ``dest.part``; an interrupted download resumes from it with an HTTP Range request. A checksum
    mismatch removes the file and raises :class:`DownloadError`; with ``sha256=None`` the digest is printed.
    """
    dest = Path(dest)
    if dest.is_file():
        if sha256 is None or sha256_of(dest) == sha256.lower():
            return dest
        dest.unlink()  # a stale or damaged earlier download
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        _transfer(url, part, progress, timeout)
    except (urllib.error.URLError, OSError, socket.timeout, ValueError) as err:
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", None) or err
        kept = f", then rerun to resume from {part}" if part.exists() and part.stat().st_size else ""
        raise DownloadError(f"Could not download {url} ({' '.join(str(reason).split())}); "
                            f"download it by hand and save it as {dest}{kept}.") from None
    part.replace(dest)
    _verify(dest, sha256)
    return dest


def _is_junk(member: str) -> bool:
    return member.startswith("__MACOSX/") or Path(member).name.startswith("._") or member.endswith("/")


def extract_into(archive: Path, root: Path, folder: str) -> None:
    """Unzip ``archive`` so that its files end up under ``root/folder`` whether or not the zip has that top folder.

    macOS resource forks are skipped; a member that would land outside ``root`` raises :class:`DownloadError`.
    """
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.namelist() if not _is_junk(m)]
            target = root if all(m.startswith(folder + "/") for m in members) else root / folder
            for member in members:
                out = (target / member).resolve()
                if not out.is_relative_to(target.resolve()):
                    raise DownloadError(f"Refusing to extract {member!r} from {archive}: it points outside {target}.")
                out.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, EOFError) as err:
        raise DownloadError(f"{archive} is not a readable zip archive ({err}); delete it and download it again.") \
            from None


def _flickr8k_complete(root: Path) -> bool:
    text = root / TEXT_DIR
    return (root / IMAGE_DIR).is_dir() and (text / TOKEN_FILE).is_file() \
        and all((text / name).is_file() for name in SPLIT_FILES.values())


def download_flickr8k(data_dir: str | Path | None = None, progress: bool = True, keep_archives: bool = False) -> Path:
    """Fetch and unzip Flickr8k into ``data_dir/flickr8k`` (``data_dir``: argument, ``$SAT_DATA``, or the user cache)
    so that :func:`~sat.data.flickr8k.load_flickr8k` reads it; return that folder. Nothing is fetched if it is there.
    """
    root = resolve_data_dir(data_dir) / "flickr8k"
    if _flickr8k_complete(root):
        return root
    root.mkdir(parents=True, exist_ok=True)
    for name, url in FLICKR8K_URLS.items():
        archive = root / name
        try:
            download(url, archive, FLICKR8K_SHA256[name], progress)
        except DownloadError as err:
            raise DownloadError(f"{str(err).rstrip('.')}, or put both {' and '.join(FLICKR8K_URLS)} (or their "
                                f"unpacked {IMAGE_DIR}/ and {TEXT_DIR}/ folders) in {root} by hand.") from None
        extract_into(archive, root, IMAGE_DIR if name == "Flickr8k_Dataset.zip" else TEXT_DIR)
        if not keep_archives:
            archive.unlink()
    if not _flickr8k_complete(root):
        raise DownloadError(f"The Flickr8k archives unpacked into {root} lack {IMAGE_DIR}/ or {TEXT_DIR}/{TOKEN_FILE} "
                            f"and the split files; check the downloaded archives.")
    return root
