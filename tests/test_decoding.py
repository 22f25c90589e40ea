"""Greedy decoding, sampling and batched beam search."""
from __future__ import annotations

import itertools

import pytest
import torch

from _model_helpers import all_model_configs, decoding_model, tiny_config
from sat.decoding import Hypothesis, beam_search, greedy, sample

torch.set_num_threads(1)
START, END = 1, 2
CONFIGS = {name: config for name, config in all_model_configs().items() if name in ("sat-soft", "nic", "mrnn")}


def model_and_features(name: str, vocab: int = 12, images: int = 5, seed: int = 0):
    model = decoding_model(name, vocab, seed)  # seeds torch, then the features are drawn
    return model, torch.randn(images, 5, 6)


def caption_log_prob(model, features, tokens: list[int], finished: bool) -> float:
    """log p of ``tokens`` (and of <end> when finished) under teacher forcing, step by step."""
    with torch.no_grad():
        state, total = model.init_state(features), 0.0
        for previous, word in zip([START, *tokens], tokens + ([END] if finished else [])):
            log_probs, state, _ = model.step(torch.tensor([previous]), state)
            total += log_probs[0, word].item()
    return total


@pytest.mark.parametrize("name", CONFIGS)
def test_beam_of_one_is_greedy(name):
    model, features = model_and_features(name)
    for fast, slow in zip(greedy(model, features, max_len=8), beam_search(model, features, beam_size=1, max_len=8)):
        assert fast.tokens == slow.tokens and fast.finished == slow.finished
        assert fast.log_prob == pytest.approx(slow.log_prob, abs=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_batched_beam_search_equals_one_image_at_a_time(name):
    model, features = model_and_features(name)
    together = beam_search(model, features, beam_size=3, max_len=10, n_best=3)
    for image, hypothesis in enumerate(together):
        alone = beam_search(model, features[image: image + 1], beam_size=3, max_len=10, n_best=3)[0]
        assert hypothesis.tokens == alone.tokens
        assert hypothesis.log_prob == pytest.approx(alone.log_prob, abs=1e-4)
        assert [h.tokens for h in hypothesis.alternatives] == [h.tokens for h in alone.alternatives]


@pytest.mark.parametrize("name", CONFIGS)
def test_large_beam_finds_the_exhaustive_optimum(name):
    """Vocabulary of 2 words (+ <end>, <unk>), at most 3 steps: the 39 captions can all be scored."""
    model, features = model_and_features(name, vocab=6, images=3)
    words, max_len = [3, 4, 5], 3  # <unk> and the two words
    for image in range(3):
        single = features[image: image + 1]
        candidates = [(list(seq), True) for n in range(max_len) for seq in itertools.product(words, repeat=n)]
        candidates += [(list(seq), False) for seq in itertools.product(words, repeat=max_len)]  # never ended
        scores = {(tuple(tokens), done): caption_log_prob(model, single, tokens, done) for tokens, done in candidates}
        (best_tokens, best_done), best = max(scores.items(), key=lambda item: item[1])
        found = beam_search(model, single, beam_size=len(words) ** max_len, max_len=max_len)[0]
        assert (tuple(found.tokens), found.finished) == (best_tokens, best_done)
        assert found.log_prob == pytest.approx(best, abs=1e-4)


@pytest.mark.parametrize("name", CONFIGS)
def test_hypotheses_carry_their_log_probability_and_attention(name):
    model, features = model_and_features(name)
    for decode in (lambda: greedy(model, features, 12), lambda: beam_search(model, features, 3, 12),
                   lambda: sample(model, features, 1.0, 12, torch.Generator().manual_seed(0))):
        for image, hypothesis in enumerate(decode()):
            assert isinstance(hypothesis, Hypothesis) and all(3 <= t < 12 for t in hypothesis.tokens)
            expected = caption_log_prob(model, features[image: image + 1], hypothesis.tokens, hypothesis.finished)
            assert hypothesis.log_prob == pytest.approx(expected, abs=1e-4)
            if name.startswith("sat"):
                assert hypothesis.attention.shape == (len(hypothesis.tokens), features.size(1))
                torch.testing.assert_close(hypothesis.attention.sum(-1), torch.ones(len(hypothesis.tokens)))
            else:
                assert hypothesis.attention is None


def test_a_model_that_never_ends_still_returns_hypotheses():
    model, features = model_and_features("sat-soft")
    with torch.no_grad():
        model.out_vocab.bias[END] = -1e4  # <end> is never among the best
    for hypotheses in (greedy(model, features, max_len=7), beam_search(model, features, beam_size=4, max_len=7)):
        assert len(hypotheses) == len(features)
        assert all(len(h.tokens) == 7 and not h.finished for h in hypotheses)


def test_n_best_alternatives_and_length_normalization():
    model, features = model_and_features("nic")
    best = beam_search(model, features, beam_size=4, max_len=10, n_best=4)
    for hypothesis in best:
        ranked = [hypothesis, *hypothesis.alternatives]
        assert len(ranked) == 4 and len({tuple(h.tokens) for h in ranked}) == 4
        assert all(a.score >= b.score for a, b in zip(ranked, ranked[1:]))
    normalized = beam_search(model, features, beam_size=4, max_len=10, length_normalization=0.7, n_best=4)
    for hypothesis in normalized:
        for h in (hypothesis, *hypothesis.alternatives):
            steps = len(h.tokens) + h.finished
            assert h.score == pytest.approx(h.log_prob / steps ** 0.7, rel=1e-5)
        assert hypothesis.score == max(h.score for h in (hypothesis, *hypothesis.alternatives))


def test_sampling_is_reproducible_and_temperature_sharpens():
    model, features = model_and_features("sat-soft")
    first = sample(model, features, 1.0, 10, torch.Generator().manual_seed(3))
    again = sample(model, features, 1.0, 10, torch.Generator().manual_seed(3))
    assert [h.tokens for h in first] == [h.tokens for h in again]
    cold = sample(model, features, 1e-4, 10, torch.Generator().manual_seed(3))
    assert [h.tokens for h in cold] == [h.tokens for h in greedy(model, features, 10)]
    with pytest.raises(ValueError):
        sample(model, features, 0.0)


def test_decoding_restores_training_mode():
    model, features = model_and_features("sat-soft")
    model.train()
    beam_search(model, features, beam_size=2, max_len=3)
    assert model.training
