"""What the training loop reads: the vocabulary, every training caption as one padded tensor, and the annotation
vectors of the training images held in RAM (float16), so that a minibatch is three tensor index operations.

The feature cache (``sat.features``) is opened, or extracted first for the train and val splits when it is missing or
incomplete. If the training rows would not fit comfortably in memory (COCO), the float16 memmap is read per batch.
With ``DataConfig.hflip`` the annotation vectors of the left–right mirrored training images are held too, and each pair
of a minibatch reads them instead with probability 1/2: a second view of every image, as a flip augmentation gives a
network trained end to end (the cached features of the mirror are not a mirrored grid of the original's).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..data import CaptionDataset, CaptionPairs, ImageRecord, Vocabulary, batch_features, load_dataset
from ..data.errors import DataError
from ..features import TODO, FeatureStore, cache_path, extract_features

MEMORY_FRACTION = 0.5  # load the training features into RAM when they take at most this share of the free memory


@dataclass
class TrainingData:
    """Training pairs as tensors plus the records and the store that validation decodes from."""

    vocab: Vocabulary
    features: torch.Tensor | np.ndarray  # (N_train_images, L, D) float16, in RAM (tensor) or a memmap (array)
    captions: torch.Tensor  # (P, T_max) long, <start> w.. <end> <pad>..
    lengths: torch.Tensor  # (P,) including <start> and <end>
    image_rows: torch.Tensor  # (P,) the row of each pair's image in ``features``
    word_counts: torch.Tensor  # (V,) how often each id is a training target (<end> once per caption)
    val_records: list[ImageRecord]
    store: FeatureStore
    mirrored: torch.Tensor | np.ndarray | None = None  # like ``features``, of the mirrored images (DataConfig.hflip)

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[2])

    def __len__(self) -> int:
        return int(self.lengths.numel())

    def batch(self, indices: list[int] | torch.Tensor, device: torch.device | str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pairs ``indices`` → features (B, L, D) float32, captions (B, T) cut to the batch's longest, lengths (B,).

        With ``mirrored`` features, each pair reads them instead with probability 1/2 (coins from torch's global RNG,
        which checkpoints save, so a resumed run draws the same ones).
        """
        index = torch.as_tensor(indices, dtype=torch.long)  # (B,)
        lengths = self.lengths[index]  # (B,)
        captions = self.captions[index, : int(lengths.max())]  # (B, T)
        rows = self.image_rows[index]  # (B,)
        features = batch_features(self.features, rows)  # (B, L, D) float32
        if self.mirrored is not None:
            flip = torch.rand(len(rows)) < 0.5  # (B,)
            if flip.any():
                features[flip] = batch_features(self.mirrored, rows[flip])  # (F, L, D)
        return features.to(device, non_blocking=True), captions.to(device), lengths.to(device)


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable`` of /proc/meminfo, else the free pages)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def open_store(dataset: CaptionDataset, config: DataConfig, extract: bool = True, hflip: bool = False) -> FeatureStore:
    """The feature cache of ``dataset`` for ``config.encoder``/``image_size``, extracting train and val features first
    when ``extract`` and some are missing. ``hflip``: the cache of the mirrored images, of which training reads only
    the train split."""
    root = cache_path(dataset.name, config.encoder, config.image_size, config.cache_dir, hflip)
    splits = ("train",) if hflip else ("train", "val")
    needed = [r.filename for r in dataset.images if r.split in splits]
    try:
        store = FeatureStore.open(root)
        if all(name in store.index and store.status[store.index[name]] != TODO for name in needed):
            return store  # every image extracted (or known to be unreadable)
    except DataError:
        pass  # missing or damaged: (re)built below
    if not extract:
        raise FileNotFoundError(f"{root}: feature cache missing or incomplete (run `sat features` first)")
    return extract_features(dataset, config.encoder, config.image_size, config.cache_dir, splits=splits, hflip=hflip)


def with_features(records: list[ImageRecord], store: FeatureStore, split: str) -> list[ImageRecord]:
    """``records`` whose features were extracted; the others (unreadable images) are left out with one warning."""
    kept = [r for r in records if store.has(r.filename)]
    if len(kept) < len(records):
        warnings.warn(f"{split}: {len(records) - len(kept)} image(s) without features are left out", stacklevel=2)
    return kept


def load_training_data(config: DataConfig, vocab: Vocabulary | None = None, dataset: CaptionDataset | None = None,
                       store: FeatureStore | None = None, in_memory: bool | None = None,
                       mirror_store: FeatureStore | None = None) -> TrainingData:
    """Everything the trainer reads. ``vocab`` None: built from the training captions (``min_count``).

    ``in_memory`` None: load the training features into RAM when they fit (see :data:`MEMORY_FRACTION`).
    ``mirror_store``: the cache of the mirrored images when ``config.hflip`` (None: opened, or extracted, here).
    """
    dataset = dataset if dataset is not None else load_dataset(config.dataset, config.data_dir)
    store = store if store is not None else open_store(dataset, config)
    train = with_features(dataset.split("train"), store, "train")
    val = with_features(dataset.split("val"), store, "val")
    if not config.hflip:
        mirror_store = None
    elif mirror_store is None:
        mirror_store = open_store(dataset, config, hflip=True)
    if mirror_store is not None:
        train = with_features(train, mirror_store, "train (mirrored)")
    if not train:
        raise ValueError(f"{config.dataset}: no training images with features")
    if vocab is None:
        vocab = Vocabulary.build((tokens for record in train for tokens in record.tokens), config.min_count)

    filenames = [r.filename for r in train]
    rows = store.rows(filenames)  # (N_train,) rows in the cache
    if in_memory is None:
        views = 2 if mirror_store is not None else 1
        needed = views * len(rows) * int(np.prod(store.array.shape[1:])) * store.array.itemsize
        in_memory = needed <= MEMORY_FRACTION * available_memory()
    features, image_rows = _training_rows(store, rows, in_memory)
    mirrored = None
    if mirror_store is not None:
        mirror_rows = mirror_store.rows(filenames)  # (N_train,)
        if not in_memory and not np.array_equal(mirror_rows, rows):
            raise DataError(mirror_store.root, "the mirrored cache lists the images in another order than "
                                               f"{store.root}; delete it and run `sat features --hflip` again")
        mirrored, _ = _training_rows(mirror_store, mirror_rows, in_memory)

    pairs = CaptionPairs(train, vocab, max_len=config.max_caption_len, image_rows=image_rows)
    lengths = torch.tensor(pairs.lengths, dtype=torch.long)  # (P,)
    captions = torch.full((len(pairs), int(lengths.max())), Vocabulary.pad_id, dtype=torch.long)  # (P, T_max)
    for row, ids in enumerate(pairs.caption_ids):
        captions[row, : len(ids)] = torch.as_tensor(ids)
    targets = captions[:, 1:]
    word_counts = torch.bincount(targets[targets != Vocabulary.pad_id], minlength=len(vocab)).float()  # (V,)
    return TrainingData(vocab=vocab, features=features, captions=captions, lengths=lengths,
                        image_rows=torch.as_tensor(pairs.image_index, dtype=torch.long), word_counts=word_counts,
                        val_records=val, store=store, mirrored=mirrored)


def _training_rows(store: FeatureStore, rows: np.ndarray, in_memory: bool
                   ) -> tuple[torch.Tensor | np.ndarray, np.ndarray]:
    """The cache rows ``rows`` as a float16 tensor in RAM (N, L, D), with row numbers 0..N−1; or the memmap itself
    with ``rows``."""
    if not in_memory:
        return store.array, rows
    return store.load(rows), np.arange(len(rows))
