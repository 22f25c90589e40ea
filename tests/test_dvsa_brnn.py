"""The BRNN sentence encoder (Eqs. 2–6): padding must not change a sentence's word vectors."""
import torch

from sat.dvsa.model import AlignmentModel
from sat.dvsa.sentence import BRNN, reverse_padded


def test_reverse_padded_is_an_involution():
    x = torch.arange(12).view(2, 6)
    lengths = torch.tensor([4, 6])
    r = reverse_padded(x, lengths)
    assert r[0].tolist() == [3, 2, 1, 0, 4, 5] and r[1].tolist() == [11, 10, 9, 8, 7, 6]
    assert torch.equal(reverse_padded(r, lengths), x)


def test_padding_does_not_change_a_sentence():
    torch.manual_seed(0)
    brnn = BRNN(vocab_size=20, word_dim=8, hidden_dim=6).eval()
    sentence = torch.tensor([5, 7, 9])
    alone = brnn(sentence[None], torch.tensor([3]))  # (1, 3, 6)
    batch = torch.tensor([[5, 7, 9, 0, 0, 0], [4, 4, 6, 8, 10, 12]])
    padded = brnn(batch, torch.tensor([3, 6]))  # (2, 6, 6)
    assert torch.allclose(padded[0, :3], alone[0], atol=1e-6)
    assert padded[0, 3:].abs().sum() == 0


def test_brnn_follows_equations_2_to_6():
    torch.manual_seed(0)
    brnn = BRNN(vocab_size=10, word_dim=4, hidden_dim=3).eval()
    tokens = torch.tensor([1, 2, 3])
    relu = torch.relu
    e = relu(brnn.W_e(brnn.embed(tokens)))  # (3, 3)
    hf, hb = [None] * 3, [None] * 3
    h = torch.zeros(3)
    for t in range(3):
        h = relu(e[t] + brnn.W_f(h)); hf[t] = h
    h = torch.zeros(3)
    for t in reversed(range(3)):
        h = relu(e[t] + brnn.W_b(h)); hb[t] = h
    s = torch.stack([relu(brnn.W_d(hf[t] + hb[t])) for t in range(3)])
    assert torch.allclose(brnn(tokens[None], torch.tensor([3]))[0], s, atol=1e-6)


def test_model_score_matrix_shape_and_word_region_scores():
    torch.manual_seed(0)
    model = AlignmentModel(vocab_size=30, feature_dim=16, word_dim=8, hidden_dim=12).eval()
    feats = torch.randn(3, 4, 16)  # 3 images, L = 4 cells
    tokens = torch.tensor([[5, 6, 7], [8, 9, 0]])
    S = model(feats, tokens, torch.tensor([3, 2]))
    assert S.shape == (3, 2)
    unary = model.word_region_scores(feats[0], tokens[0])
    assert unary.shape == (3, 5)  # 3 words × (4 cells + whole image)
    assert torch.allclose(unary.amax(dim=1).mean(), S[0, 0], atol=1e-5)  # Eq. 8 with length_norm
