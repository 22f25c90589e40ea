"""The chain-MRF snippet alignment (Eqs. 10–12): Viterbi equals brute force."""
import itertools

import pytest
import torch

from sat.dvsa.alignment import energy, snippets, viterbi


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 5.0])
@pytest.mark.parametrize("n_words", [1, 2, 4, 5])
def test_viterbi_equals_brute_force(beta, n_words):
    torch.manual_seed(n_words)
    unary = torch.randn(n_words, 4)
    path, best = viterbi(unary, beta)
    brute = max(energy(unary, list(a), beta) for a in itertools.product(range(4), repeat=n_words))
    assert best == pytest.approx(brute)
    assert energy(unary, path, beta) == pytest.approx(best)


def test_beta_zero_is_argmax_and_large_beta_is_one_region():
    unary = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.2]])
    assert viterbi(unary, 0.0)[0] == [0, 1, 0]
    assert viterbi(unary, 10.0)[0] == [0, 0, 0]


def test_snippets_group_runs():
    assert snippets(["a", "black", "dog", "runs"], [3, 3, 3, 7]) == [(3, "a black dog"), (7, "runs")]
