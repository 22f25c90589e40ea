"""The training data path over cached features: (image, caption) pairs, length buckets, padding, feature lookup.

Like the paper (§5) and arctic-captions' ``homogeneous_data``, every minibatch holds captions of one length, so no
step is wasted on padding; the order of the batches is shuffled from ``seed`` and the epoch (:meth:`set_epoch`).
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .records import ImageRecord
from .vocab import Vocabulary


class CaptionPairs(Dataset):
    """Every (image, caption) pair of ``records``, encoded as ``<start> w_1 … w_n <end>`` ids.

    ``image_index`` of a pair is the row of its image in the feature array: the image's position in ``records``
    unless ``image_rows`` gives each record's row. Captions longer than ``max_len`` words are left out (as arctic's
    ``maxlen``) with one warning that counts them.
    """

    def __init__(self, records: Sequence[ImageRecord], vocab: Vocabulary, max_len: int | None = None,
                 image_rows: Sequence[int] | None = None) -> None:
        if image_rows is not None and len(image_rows) != len(records):
            raise ValueError(f"image_rows has {len(image_rows)} entries for {len(records)} records")
        self.image_index: list[int] = []
        self.caption_ids: list[list[int]] = []
        too_long = 0
        for position, record in enumerate(records):
            row = int(image_rows[position]) if image_rows is not None else position
            for tokens in record.tokens:
                if max_len is not None and len(tokens) > max_len:
                    too_long += 1
                    continue
                self.image_index.append(row)
                self.caption_ids.append(vocab.encode(tokens))
        if too_long:
            warnings.warn(f"CaptionPairs: left out {too_long} caption(s) longer than max_len={max_len} words",
                          stacklevel=2)
        self.lengths: list[int] = [len(ids) for ids in self.caption_ids]  # including <start> and <end>

    def __len__(self) -> int:
        return len(self.caption_ids)

    def __getitem__(self, index: int) -> tuple[int, list[int]]:
        return self.image_index[index], self.caption_ids[index]


class LengthBucketSampler(Sampler[list[int]]):
    """A batch sampler whose batches each hold indices of one caption length.

    Per epoch: the indices of each length are shuffled and cut into batches of ``batch_size`` (the last of a length
    may be smaller, or dropped with ``drop_last``), then the batches are shuffled — all from ``seed`` and the epoch
    set by :meth:`set_epoch`, so every process computes the same list. With ``world_size > 1`` rank ``r`` takes batches
    ``r, r + world_size, …``; every rank gets the same number of batches (needed by DistributedDataParallel): with
    ``drop_last`` the surplus batches are dropped, otherwise the first batches are repeated to fill the last round,
    as :class:`torch.utils.data.DistributedSampler` does. When nothing needs filling the shards are disjoint.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.lengths = np.asarray(lengths, dtype=np.int64)  # (n_pairs,)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle the next iteration uses (call it before each epoch, as with DDP)."""
        self.epoch = epoch

    def all_batches(self) -> list[list[int]]:
        """This epoch's batches across all ranks, in order (before sharding)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        by_length: dict[int, list[int]] = defaultdict(list)
        for index, length in enumerate(self.lengths.tolist()):
            by_length[length].append(index)
        batches: list[list[int]] = []
        for length in sorted(by_length):
            indices = np.asarray(by_length[length])
            if self.shuffle:
                indices = rng.permutation(indices)
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size].tolist()
                if len(chunk) == self.batch_size or not self.drop_last:
                    batches.append(chunk)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _shard(self, batches: list[list[int]]) -> list[list[int]]:
        if self.world_size == 1:
            return batches
        if self.drop_last:
            batches = batches[: len(batches) - len(batches) % self.world_size]
        elif batches and len(batches) % self.world_size:
            missing = self.world_size - len(batches) % self.world_size
            batches = batches + [batches[i % len(batches)] for i in range(missing)]
        return batches[self.rank::self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._shard(self.all_batches()))

    def __len__(self) -> int:
        counts = np.unique(self.lengths, return_counts=True)[1]
        full = int(np.sum(counts // self.batch_size))
        total = full if self.drop_last else full + int(np.sum(counts % self.batch_size > 0))
        if self.world_size == 1:
            return total
        return total // self.world_size if self.drop_last else -(-total // self.world_size)


def collate_captions(batch: Sequence[tuple[int, Sequence[int]]]) -> dict[str, torch.Tensor]:
    """Pairs from :class:`CaptionPairs` → a dict of three LongTensors.

    ``captions`` (B, T) ``<start> … <end>`` padded with ``<pad>`` = 0, T the batch's longest caption; ``lengths`` (B,)
    counting ``<start>`` and ``<end>`` (models mask padding with it); ``image_index`` (B,) rows of the feature cache.
    """
    lengths = torch.tensor([len(ids) for _, ids in batch], dtype=torch.long)  # (B,)
    captions = torch.full((len(batch), int(lengths.max())), Vocabulary.pad_id, dtype=torch.long)  # (B, T)
    for row, (_, ids) in enumerate(batch):
        captions[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
    image_index = torch.tensor([image for image, _ in batch], dtype=torch.long)  # (B,)
    return {"captions": captions, "lengths": lengths, "image_index": image_index}


def batch_features(array: np.ndarray | torch.Tensor, image_index: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """Rows ``image_index`` of a feature cache (N_images, L, D) — float16 memmap, array or tensor — as float32
    (B, L, D).

    A numpy memmap is read in sorted order of the distinct rows (one pass over the file), then put back in batch order.
    """
    index = torch.as_tensor(image_index, dtype=torch.long).cpu()  # (B,)
    if isinstance(array, torch.Tensor):
        return array[index.to(array.device)].float()  # (B, L, D)
    unique, inverse = np.unique(index.numpy(), return_inverse=True)  # (U,), (B,)
    rows = np.asarray(array[unique], dtype=np.float32)  # (U, L, D)
    return torch.from_numpy(rows[inverse])  # (B, L, D)


def caption_loader(pairs: CaptionPairs, batch_size: int, shuffle: bool = True, seed: int = 0,
                   drop_last: bool = False, rank: int = 0, world_size: int = 1, num_workers: int = 0) -> DataLoader:
    """A :class:`DataLoader` of length-bucketed, collated batches; call ``loader.batch_sampler.set_epoch(e)``."""
    sampler = LengthBucketSampler(pairs.lengths, batch_size, shuffle, seed, drop_last, rank, world_size)
    return DataLoader(pairs, batch_sampler=sampler, collate_fn=collate_captions, num_workers=num_workers)
