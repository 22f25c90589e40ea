"""The coco-caption wrapper: BLEU checked by hand, the Java scorers on a tiny example, the results file format."""
from __future__ import annotations

import json
import math
import shutil

import pytest

from sat.data.records import ImageRecord
from sat.evaluation import SCORE_NAMES, results_json, score_captions
from sat.evaluation.metrics import tokenize_all
from sat.evaluation.tokenizer import JavaNotFoundError, require_java

REFERENCES = {
    "cat.jpg": ["The cat is on the mat.", "There is a cat on the mat."],
    "dog.jpg": ["A dog runs.", "The dog is running fast."],
}
CANDIDATES = {"cat.jpg": "the cat the cat on the mat", "dog.jpg": "a dog"}


def test_bleu_matches_a_hand_computation():
    """Corpus BLEU (Papineni et al. 2002) as coco-caption computes it, worked out by hand.

    cat.jpg, candidate "the cat the cat on the mat" (7 words; references of 6 and 7 words, closest length 7):
      unigrams the×3 cat×2 on mat — clipped by the references' maxima (the 2, cat 1, on 1, mat 1): 5 of 7 match;
      bigrams  "the cat"×2 "cat the" "cat on" "on the" "the mat" — clipped: 1 + 0 + 1 + 1 + 1 = 4 of 6.
    dog.jpg, candidate "a dog" (2 words; references of 3 and 5 words, closest length 3):
      unigrams 2 of 2, bigrams 1 of 1.
    Corpus: p1 = (5 + 2) / (7 + 2) = 7/9, p2 = (4 + 1) / (6 + 1) = 5/7; length c = 9 < r = 7 + 3 = 10, so the
    brevity penalty is exp(1 − r/c) = exp(1 − 10/9).
    """
    brevity = math.exp(1 - 10 / 9)
    bleu_1 = brevity * 7 / 9
    bleu_2 = brevity * math.sqrt(7 / 9 * 5 / 7)
    scores = score_captions(REFERENCES, CANDIDATES, metrics=("Bleu",), fast=True)
    assert scores["Bleu_1"] == pytest.approx(bleu_1, abs=1e-6)
    assert scores["Bleu_2"] == pytest.approx(bleu_2, abs=1e-6)
    assert set(scores) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"}


def test_perfect_candidates_score_one_and_fast_path_needs_no_java(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no Java at all
    references = {"a": ["a dog runs on the grass", "a brown dog"], "b": ["two men play football on a field"]}
    candidates = {"a": "A dog runs on the grass.", "b": "two men play football on a field"}
    scores = score_captions(references, candidates, metrics=("Bleu", "ROUGE_L"), fast=True)
    assert scores["Bleu_4"] == pytest.approx(1.0, abs=1e-6)
    assert scores["ROUGE_L"] == pytest.approx(1.0, abs=1e-6)


def test_missing_java_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(JavaNotFoundError, match="install a JRE") as info:
        score_captions(REFERENCES, CANDIDATES)
    assert "\n" not in str(info.value)


def test_bad_inputs_are_value_errors():
    with pytest.raises(ValueError, match="no reference"):
        score_captions(REFERENCES, {"other.jpg": "a cat"}, fast=True, metrics=("Bleu",))
    with pytest.raises(ValueError, match="unknown metric"):
        score_captions(REFERENCES, CANDIDATES, metrics=("SPICE",), fast=True)
    with pytest.raises(ValueError, match="no candidate"):
        score_captions(REFERENCES, {}, fast=True, metrics=("Bleu",))


def test_tokenize_all_keeps_references_with_their_image():
    gts, res = tokenize_all(REFERENCES, CANDIDATES, fast=True)
    assert res == {"cat.jpg": ["the cat the cat on the mat"], "dog.jpg": ["a dog"]}
    assert gts["dog.jpg"] == ["a dog runs", "the dog is running fast"]


def _has_java() -> bool:
    try:
        require_java("test")
        return True
    except JavaNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _has_java(), reason="no java: the PTB tokenizer and METEOR need a JRE")
def test_full_coco_caption_scores_with_java():
    """PTB tokenizer + every scorer (one METEOR start-up, the slowest part of the suite)."""
    candidates = {**CANDIDATES, "empty.jpg": ""}  # an empty caption must not shift the tokenizer's lines
    references = {**REFERENCES, "empty.jpg": ["A bird flies, high!"]}
    scores = score_captions(references, candidates)
    assert list(scores) == list(SCORE_NAMES)
    for name in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L"):
        assert 0.0 <= scores[name] <= 1.0, (name, scores[name])
    assert 0.0 < scores["METEOR"] < 1.0
    assert math.isfinite(scores["CIDEr"]) and scores["CIDEr"] > 0.0  # CIDEr-D is not bounded by 1 (max 10)
    # PTB tokenisation drops the punctuation exactly like the pure-Python path here, so BLEU agrees with it
    fast = score_captions(references, candidates, metrics=("Bleu",), fast=True)
    assert scores["Bleu_2"] == pytest.approx(fast["Bleu_2"], abs=1e-9)


def test_results_json_is_the_coco_results_format(tmp_path):
    records = [ImageRecord("1000_a.jpg", "test", ["a dog"]), ImageRecord("val2014/x.jpg", "test", ["a"], image_id=42)]
    captions = {"1000_a.jpg": "a dog runs", "42": "a man"}
    rows = results_json(records, captions)
    assert rows == [{"image_id": "1000_a.jpg", "caption": "a dog runs"}, {"image_id": 42, "caption": "a man"}]
    assert json.loads(json.dumps(rows)) == rows


def test_decode_split_bf16_autocasts_the_beam_search(monkeypatch):
    import torch

    import sat.decoding.cached
    from sat.data import Vocabulary
    from sat.evaluation import decode_split
    from sat.models.config import build_model
    from _model_helpers import tiny_config
    from _training_helpers import tiny_dataset

    dataset, store = tiny_dataset(n_train=4, n_val=3)
    vocab = Vocabulary.build([tokens for record in dataset.images for tokens in record.tokens], min_count=1)
    torch.manual_seed(0)
    model = build_model(tiny_config(feature_dim=store.feature_dim), len(vocab)).eval()
    records = dataset.split("val")
    seen = []
    search = sat.decoding.cached.beam_search

    def spy(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return search(*args, **kwargs)

    monkeypatch.setattr(sat.decoding.cached, "beam_search", spy)
    plain = decode_split(model, store, records, vocab, beam_size=2, max_len=5)
    fast = decode_split(model, store, records, vocab, beam_size=2, max_len=5, bf16=True)
    assert seen == [False, True]
    assert plain.keys() == fast.keys() == {record.key for record in records}
    assert all(isinstance(caption, str) for caption in fast.values())
