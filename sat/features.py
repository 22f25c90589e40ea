"""A cache of annotation vectors: each image is encoded once per (encoder, image size), stored as float16.

Layout of one cache (``CACHE/features/DATASET/ENCODER-SIZE/``, or ``ENCODER-SIZE-hflip/`` for the mirrored images)::

    meta.json          encoder, image size, fingerprint (weights + preprocessing), shape (N, L, D), file names
    features.npy       float16 array (N, L, D), memory-mapped: a batch reads only its own rows
    status.npy         uint8 per image: 0 = not yet extracted, 1 = done, 2 = failed (unreadable image)

Extraction is resumable (an interrupted run keeps every row whose status was saved and continues with the rest) and
the cache is rebuilt when the fingerprint changes (other weights, image size or preprocessing). Unreadable images are
skipped with one warning that counts and lists them; their status says so, and they never reach training.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .data.errors import DataError
from .data.images import image_transform, load_image
from .data.records import CaptionDataset
from .paths import cache_dir as resolve_cache_dir

TODO, DONE, FAILED = 0, 1, 2


def encoder_fingerprint(encoder: torch.nn.Module, image_size: int, hflip: bool = False) -> str:
    """A digest of the encoder's weights and of the preprocessing: any change invalidates the cache."""
    digest = hashlib.sha256()
    name = getattr(encoder, "name", type(encoder).__name__)
    digest.update(f"{name}|{image_size}|{image_transform(image_size, hflip)}".encode())
    for _, tensor in sorted(encoder.state_dict().items()):  # values only: a wrapper's key prefix changes nothing
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(root: Path):
    """Hold an exclusive lock on the cache folder: two extractions into one cache would overwrite each other's status."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


@dataclass
class FeatureStore:
    """Read access to one feature cache. ``array`` is the float16 memmap (N, L, D)."""

    root: Path
    filenames: list[str]
    array: np.ndarray
    status: np.ndarray
    meta: dict

    @property
    def index(self) -> dict[str, int]:
        if not hasattr(self, "_index"):
            self._index = {name: row for row, name in enumerate(self.filenames)}
        return self._index

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.meta["grid"])

    @property
    def feature_dim(self) -> int:
        return int(self.array.shape[2])

    def has(self, filename: str) -> bool:
        row = self.index.get(filename)
        return row is not None and self.status[row] == DONE

    def rows(self, filenames: Sequence[str]) -> np.ndarray:
        """Row numbers of ``filenames``; any image without extracted features raises :class:`DataError`."""
        rows = np.fromiter((self.index.get(name, -1) for name in filenames), dtype=np.int64, count=len(filenames))
        bad = [name for name, row in zip(filenames, rows) if row < 0 or self.status[row] != DONE]
        if bad:
            raise DataError(self.root, f"no features for {len(bad)} image(s), e.g. {bad[0]} (extract them first)")
        return rows

    def get(self, filenames: Sequence[str]) -> torch.Tensor:
        """Annotation vectors of ``filenames`` as float32 (B, L, D)."""
        rows = self.rows(filenames)
        return torch.from_numpy(np.asarray(self.array[rows], dtype=np.float32))  # (B, L, D)

    def load(self, rows: np.ndarray, chunk: int = 512) -> torch.Tensor:
        """Cache rows ``rows`` copied into RAM as float16 (N, L, D), in the order given; the memmap is read front to
        back, ``chunk`` rows at a time."""
        order = np.argsort(rows)
        features = np.empty((len(rows), *self.array.shape[1:]), dtype=np.float16)  # (N, L, D)
        for start in range(0, len(rows), chunk):
            part = order[start:start + chunk]
            features[part] = self.array[rows[part]]
        return torch.from_numpy(features)

    @classmethod
    def open(cls, root: str | Path) -> "FeatureStore":
        root = Path(root)
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise DataError(root, "no feature cache here (run `sat features` first)")
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(root / "features.npy", mmap_mode="r")
            status = np.load(root / "status.npy")
        except (OSError, ValueError, json.JSONDecodeError) as err:
            raise DataError(root, f"damaged feature cache ({err}); delete the folder to rebuild it") from None
        return cls(root, meta["filenames"], array, status, meta)


def cache_path(dataset_name: str, encoder_name: str, image_size: int, cache_dir: str | Path | None = None,
               hflip: bool = False) -> Path:
    """The folder of one cache; ``hflip`` names the cache of the left–right mirrored images."""
    suffix = "-hflip" if hflip else ""
    return resolve_cache_dir(cache_dir) / "features" / dataset_name / f"{encoder_name}-{image_size}{suffix}"


def _create(root: Path, filenames: list[str], shape: tuple[int, int, int], meta: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for stale in ("meta.json", "features.npy", "status.npy"):
        (root / stale).unlink(missing_ok=True)
    np.lib.format.open_memmap(root / "features.npy", mode="w+", dtype=np.float16, shape=shape).flush()
    _atomic_save(root / "status.npy", np.zeros(len(filenames), dtype=np.uint8))
    (root / "meta.json").write_text(json.dumps({**meta, "shape": list(shape), "filenames": filenames}))


def extract_features(
    dataset: CaptionDataset,
    encoder_name: str = "efficientnet-lite0",
    image_size: int = 224,
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    splits: Iterable[str] | None = None,
    encoder: torch.nn.Module | None = None,
    progress: bool = True,
    save_every: int = 10,
    hflip: bool = False,
    device: str | torch.device = "cpu",
) -> FeatureStore:
    """Encode every image of ``dataset`` (or of ``splits`` only) that the cache does not hold yet; return the store.

    The cache covers all images of the dataset; ``splits`` limits what is extracted now (the rest can follow later).
    ``hflip`` encodes the mirrored images into a cache of their own (:func:`cache_path`). ``device`` runs the encoder
    there ("cuda" on a GPU; "auto": CUDA if available); the images are read and resized on the CPU either way.
    """
    if encoder is None:
        from .encoders import build_encoder

        encoder = build_encoder(encoder_name, image_size=image_size)
    if isinstance(device, str):
        from .training.distributed import pick_device  # here: sat.training imports this module

        device = pick_device(device)
    encoder.eval().to(device)
    fingerprint = encoder_fingerprint(encoder, image_size, hflip)
    filenames = [record.filename for record in dataset.images]
    root = cache_path(dataset.name, encoder_name, image_size, cache_dir, hflip)
    with _locked(root):
        return _extract_locked(dataset, encoder, encoder_name, image_size, fingerprint, filenames, root, batch_size,
                               splits, progress, save_every, hflip, device)


def _extract_locked(dataset, encoder, encoder_name, image_size, fingerprint, filenames, root, batch_size, splits,
                    progress, save_every, hflip, device) -> FeatureStore:
    transform = image_transform(image_size, hflip)
    try:
        store = FeatureStore.open(root)
        reusable = store.meta.get("fingerprint") == fingerprint and store.filenames == filenames
        if not reusable:
            warnings.warn(f"{root}: encoder, preprocessing or image list changed; rebuilding the feature cache",
                          stacklevel=2)
    except DataError:
        reusable = False
    if not reusable:
        with torch.no_grad():
            probe = encoder(torch.zeros(1, 3, image_size, image_size, device=device))  # (1, L, D)
        meta = {"encoder": encoder_name, "image_size": image_size, "hflip": hflip, "fingerprint": fingerprint,
                "grid": list(encoder.grid(image_size)) if hasattr(encoder, "grid") else None}
        _create(root, filenames, (len(filenames), probe.shape[1], probe.shape[2]), meta)
    store = FeatureStore.open(root)

    wanted = {record.filename for record in dataset.images if splits is None or record.split in set(splits)}
    todo = [row for row, name in enumerate(filenames) if name in wanted and store.status[row] == TODO]
    if todo:
        writable = np.load(root / "features.npy", mmap_mode="r+")
        status = store.status.copy()
        failed: list[str] = []
        batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
        bar = tqdm(total=len(todo), desc=f"features {dataset.name} {root.name}", unit="img",
                   disable=not progress)
        for number, batch_rows in enumerate(batches, start=1):
            images, kept = [], []
            for row in batch_rows:
                try:
                    images.append(transform(load_image(Path(dataset.image_root) / filenames[row])))
                    kept.append(row)
                except DataError as err:
                    failed.append(str(err))
                    status[row] = FAILED
            if kept:
                with torch.no_grad():
                    vectors = encoder(torch.stack(images).to(device))  # (b, L, D)
                writable[kept] = vectors.float().cpu().numpy().astype(np.float16)
                status[kept] = DONE
            bar.update(len(batch_rows))
            if number % save_every == 0 or number == len(batches):
                writable.flush()  # rows reach the disk before their status says "done"
                _atomic_save(root / "status.npy", status)
        bar.close()
        del writable
        if failed:
            shown = "; ".join(failed[:10]) + (" …" if len(failed) > 10 else "")
            warnings.warn(f"feature extraction skipped {len(failed)} unreadable image(s): {shown}", stacklevel=2)
        store = FeatureStore.open(root)
    return store
