"""sat.decoding.decode_cached: beam search over a split from the feature cache, batch by batch, with or without the
mirror image; sat.evaluation.decode_split turns its hypotheses into captions."""
from __future__ import annotations

import pytest
import torch

from sat.data import Vocabulary
from sat.data.records import ImageRecord
from sat.decoding import ViewMean, beam_search, decode_cached
from sat.evaluation import decode_split

from _model_helpers import D, L, decoding_model

torch.set_num_threads(1)


class Store:
    """A feature cache in memory: ``get(names)`` → (B, L, D), like ``FeatureStore``."""

    def __init__(self, features: dict[str, torch.Tensor]):
        self.features = features

    def get(self, names):
        return torch.stack([self.features[name] for name in names])  # (B, L, D)


@pytest.fixture
def stores():
    generator = torch.Generator().manual_seed(3)
    names = [f"img{i}.jpg" for i in range(7)]
    image = Store({name: torch.randn(L, D, generator=generator) for name in names})
    mirror = Store({name: torch.randn(L, D, generator=generator) for name in names})
    return names, image, mirror


@pytest.mark.parametrize("name", ["sat-soft", "mrnn"])
def test_batches_give_the_hypotheses_of_one_image_at_a_time(stores, name):
    names, image, _ = stores
    model = decoding_model(name)
    batched = decode_cached(model, image, names, beam_size=3, max_len=6, batch_size=3)  # batches of 3, 3, 1
    assert len(batched) == len(names)
    assert len({tuple(h.tokens) for h in batched}) > 1  # the images are told apart
    for filename, hypothesis in zip(names, batched):
        alone = beam_search(model, image.get([filename]), beam_size=3, max_len=6)[0]
        assert hypothesis.tokens == alone.tokens
        assert hypothesis.log_prob == pytest.approx(alone.log_prob, abs=1e-5)
        if name == "sat-soft":
            assert hypothesis.attention.shape == (len(hypothesis.tokens), L)
            torch.testing.assert_close(hypothesis.attention, alone.attention)


def test_the_mirror_store_decodes_each_image_with_its_mirror_image(stores):
    names, image, mirror = stores
    model = decoding_model("sat-soft")
    both = decode_cached(model, image, names, beam_size=2, max_len=6, batch_size=4, mirror_store=mirror)
    plain = decode_cached(model, image, names, beam_size=2, max_len=6, batch_size=4)
    assert [h.tokens for h in both] != [h.tokens for h in plain]  # the mirror image changes some captions
    for filename, hypothesis in zip(names, both):
        views = torch.stack([image.get([filename]), mirror.get([filename])], dim=1)  # (1, 2, L, D)
        expected = beam_search(ViewMean(model), views, beam_size=2, max_len=6)[0]
        assert hypothesis.tokens == expected.tokens
        torch.testing.assert_close(hypothesis.attention, expected.attention)  # the image's own maps


def test_decode_split_captions_each_record_by_its_key(stores):
    names, image, mirror = stores
    model = decoding_model("sat-soft")
    vocab = Vocabulary([f"w{i}" for i in range(8)])
    records = [ImageRecord(filename=name, split="test", captions=["a caption"], image_id=f"key{i}")
               for i, name in enumerate(names)]
    for mirror_store in (None, mirror):
        captions = decode_split(model, image, records, vocab, beam_size=2, max_len=6, batch_size=4,
                                mirror_store=mirror_store)
        hypotheses = decode_cached(model, image, names, beam_size=2, max_len=6, mirror_store=mirror_store)
        assert list(captions) == [record.key for record in records]
        assert list(captions.values()) == [" ".join(vocab.decode(h.tokens)) for h in hypotheses]
