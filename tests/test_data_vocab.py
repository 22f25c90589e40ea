"""Vocabulary: min count, train-only build, specials, encode/decode, save/load, bad files."""
from __future__ import annotations

import json

import pytest

from sat.data import CaptionDataset, ImageRecord, Vocabulary
from sat.data.vocab import SPECIALS


def _dataset() -> CaptionDataset:
    train = ImageRecord("a.jpg", "train", tokens=[["a", "dog", "runs"], ["a", "dog", "sits"], ["a", "cat"]])
    val = ImageRecord("b.jpg", "val", tokens=[["a", "zebra", "zebra", "zebra"]])
    return CaptionDataset("toy", "/nowhere", [train, val])


def test_min_count_keeps_frequent_words_most_frequent_first():
    vocab = Vocabulary.build([["a", "dog"], ["a", "dog"], ["a", "cat"]], min_count=2)
    assert vocab.itos == [*SPECIALS, "a", "dog"]
    assert vocab.counts == {"a": 3, "dog": 2}


def test_built_from_training_split_only():
    vocab = Vocabulary.build((t for im in _dataset().split("train") for t in im.tokens), min_count=1)
    assert "dog" in vocab and "zebra" not in vocab


def test_specials_have_fixed_ids():
    vocab = Vocabulary(["dog"])
    ids = [vocab.stoi[s] for s in SPECIALS]
    assert ids == [vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unk_id] == [0, 1, 2, 3]
    assert vocab.encode(["dog", "zebra"]) == [1, 4, 3, 2]


def test_encode_decode_round_trip():
    vocab = Vocabulary.build([["a", "dog", "runs", "fast"]], min_count=1)
    words = ["a", "dog", "runs", "fast"]
    assert vocab.decode(vocab.encode(words) + [0, 0]) == words
    assert vocab.decode([1, *vocab.encode(words, add_special=False), 2, 5]) == words


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build([["a", "dog"], ["a"]], min_count=1)
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocab and loaded.counts == vocab.counts


def test_from_dict_rejects_missing_specials():
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary.from_dict({"itos": ["a", "dog"]})


@pytest.mark.parametrize("content", [json.dumps({"words": ["a"]}), json.dumps({"itos": ["a", "b"]}), "{not json",
                                     json.dumps([1, 2])])
def test_load_rejects_a_file_that_is_not_a_vocabulary(tmp_path, content):
    bad = tmp_path / "vocab.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match="not a sat vocabulary file") as err:
        Vocabulary.load(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
