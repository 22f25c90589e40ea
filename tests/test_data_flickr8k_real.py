"""The real Flickr8k (the shared development copy, or $SAT_DATA/flickr8k): split sizes, captions, vocabulary."""
from __future__ import annotations

import warnings

import pytest

from sat.data import Vocabulary, image_transform, load_flickr8k, load_image

pytestmark = pytest.mark.flickr8k


@pytest.fixture(scope="module")
def flickr8k(flickr8k_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the official splits name no missing image: no warning expected
        return load_flickr8k(flickr8k_root)


def test_official_split_sizes_and_five_captions(flickr8k):
    assert flickr8k.split_sizes() == {"train": 6000, "val": 1000, "test": 1000}
    assert all(len(im.captions) == 5 == len(im.tokens) for im in flickr8k.images)
    assert len({im.filename for im in flickr8k.images}) == 8000


def test_vocabulary_at_min_count_5_has_about_2500_words(flickr8k):
    vocab = Vocabulary.build((t for im in flickr8k.split("train") for t in im.tokens), min_count=5)
    assert 2000 <= len(vocab) <= 3000, len(vocab)


def test_real_images_load_and_transform(flickr8k):
    for record in flickr8k.split("test")[:3]:
        image = load_image(flickr8k.image_path(record))
        assert image.mode == "RGB" and image_transform(224)(image).shape == (3, 224, 224)
