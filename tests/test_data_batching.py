"""Caption pairs, length buckets (with epochs, seeds and DDP shards), padding and feature lookup."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sat.data import (CaptionPairs, ImageRecord, LengthBucketSampler, Vocabulary, batch_features, caption_loader,
                      collate_captions)


def _records(n_images: int = 40, seed: int = 0) -> list[ImageRecord]:
    rng = np.random.default_rng(seed)
    words = ["a", "dog", "cat", "runs", "on", "grass"]
    return [ImageRecord(f"{i}.jpg", "train", tokens=[list(rng.choice(words, size=int(rng.integers(1, 9))))
                                                     for _ in range(5)]) for i in range(n_images)]


@pytest.fixture(scope="module")
def pairs() -> CaptionPairs:
    records = _records()
    return CaptionPairs(records, Vocabulary.build((t for r in records for t in r.tokens), min_count=1))


def test_pairs_expand_every_caption_with_its_image_row(pairs):
    assert len(pairs) == 200
    image, ids = pairs[7]
    assert image == 1 and ids[0] == Vocabulary.start_id and ids[-1] == Vocabulary.end_id
    assert pairs.lengths[7] == len(ids)


def test_pairs_custom_rows_and_max_len():
    records = _records(3)
    vocab = Vocabulary.build((t for r in records for t in r.tokens), min_count=1)
    assert CaptionPairs(records, vocab, image_rows=[10, 20, 30])[5][0] == 20
    n_long = sum(len(t) > 4 for r in records for t in r.tokens)
    with pytest.warns(UserWarning, match=f"left out {n_long} caption"):
        short = CaptionPairs(records, vocab, max_len=4)
    assert len(short) == 15 - n_long and max(short.lengths) <= 6


def test_every_batch_has_one_length_and_every_pair_comes_once(pairs):
    sampler = LengthBucketSampler(pairs.lengths, batch_size=8, shuffle=True, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert all(len({pairs.lengths[i] for i in batch}) == 1 and 1 <= len(batch) <= 8 for batch in batches)
    assert sorted(i for batch in batches for i in batch) == list(range(len(pairs)))


def test_shuffle_is_deterministic_per_seed_and_epoch(pairs):
    first, same = (LengthBucketSampler(pairs.lengths, 8, seed=3) for _ in range(2))
    assert list(first) == list(same)
    first.set_epoch(1)
    assert list(first) != list(same)
    same.set_epoch(1)
    assert list(first) == list(same)
    assert list(LengthBucketSampler(pairs.lengths, 8, seed=4)) != list(LengthBucketSampler(pairs.lengths, 8, seed=3))


def test_drop_last_keeps_only_full_batches(pairs):
    sampler = LengthBucketSampler(pairs.lengths, 8, drop_last=True)
    assert all(len(batch) == 8 for batch in sampler) and len(list(sampler)) == len(sampler)


@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_get_equal_counts_and_disjoint_shards(pairs, drop_last):
    shards = [list(LengthBucketSampler(pairs.lengths, 8, seed=1, drop_last=drop_last, rank=r, world_size=3))
              for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert all(len(s) == len(LengthBucketSampler(pairs.lengths, 8, drop_last=drop_last, rank=0, world_size=3))
               for s in shards)
    whole = LengthBucketSampler(pairs.lengths, 8, seed=1, drop_last=drop_last).all_batches()
    seen = [tuple(batch) for shard in shards for batch in shard]
    if drop_last or len(whole) % 3 == 0:
        assert len(set(seen)) == len(seen)  # disjoint
    assert set(seen) >= {tuple(b) for b in whole[: len(whole) - len(whole) % 3]}
    if not drop_last:
        assert set(seen) == {tuple(b) for b in whole}  # nothing lost when filling the last round


def test_collate_pads_with_zero():
    batch = collate_captions([(4, [1, 5, 6, 2]), (9, [1, 7, 2])])
    assert batch["captions"].tolist() == [[1, 5, 6, 2], [1, 7, 2, 0]]
    assert batch["lengths"].tolist() == [4, 3] and batch["image_index"].tolist() == [4, 9]
    assert batch["captions"].dtype == torch.long


def test_batch_features_from_float16_memmap_and_tensor(tmp_path):
    cache = np.lib.format.open_memmap(tmp_path / "features.npy", mode="w+", dtype=np.float16, shape=(5, 3, 2))
    cache[:] = np.arange(30, dtype=np.float16).reshape(5, 3, 2)
    cache.flush()
    array = np.load(tmp_path / "features.npy", mmap_mode="r")  # (N, L, D)
    picked = batch_features(array, torch.tensor([3, 0, 3]))  # (B, L, D)
    assert picked.dtype == torch.float32 and picked.shape == (3, 3, 2)
    assert torch.equal(picked[0], torch.from_numpy(np.asarray(array[3], dtype=np.float32)))
    assert torch.equal(picked[2], picked[0])
    assert torch.equal(batch_features(torch.from_numpy(np.array(array)), [3, 0, 3]), picked)


def test_caption_loader_yields_collated_bucketed_batches(pairs):
    loader = caption_loader(pairs, batch_size=16, seed=2)
    loader.batch_sampler.set_epoch(5)
    batches = list(loader)
    assert sum(len(b["lengths"]) for b in batches) == len(pairs)
    for batch in batches:
        assert (batch["lengths"] == batch["captions"].shape[1]).all()
