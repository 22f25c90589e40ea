"""sat.analysis.nwgm: the NWGM identity, the distances, and the per-location logits of a soft-attention model."""
from __future__ import annotations

import torch

from sat.analysis.nwgm import (attention_steps, compare, expected_softmax, kl_divergence, nwgm,
                               softmax_of_expected_logits, total_variation)
from sat.models import ModelConfig, ShowAttendTell

K, L, D = 11, 4, 8


def _model(seed: int = 0) -> ShowAttendTell:
    torch.manual_seed(seed)
    config = ModelConfig(feature_dim=D, embed_dim=6, hidden_dim=7, attention_dim=5, dropout=0.0)
    return ShowAttendTell(config, vocab_size=K).eval()


def _batch():
    captions = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0], [1, 2, 0, 0, 0]])  # <start> … <end> <pad>
    lengths = torch.tensor([5, 3, 2])
    features = torch.randn(3, L, D, generator=torch.Generator().manual_seed(1))
    return features, captions, lengths


def test_nwgm_is_the_softmax_of_the_expected_logits():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(2, 5, 7, generator=generator, dtype=torch.float64)  # (..., L, K)
    weights = torch.softmax(torch.randn(2, 5, generator=generator, dtype=torch.float64), dim=-1)
    products = torch.prod(torch.exp(logits) ** weights.unsqueeze(-1), dim=-2)
    definition = products / products.sum(dim=-1, keepdim=True)
    assert torch.allclose(nwgm(logits, weights), definition, atol=1e-12)
    assert torch.allclose(softmax_of_expected_logits(logits, weights), definition, atol=1e-12)
    mixture = expected_softmax(logits, weights)
    assert torch.allclose(mixture.sum(dim=-1), torch.ones(2, dtype=torch.float64))
    assert float(total_variation(mixture, definition).min()) > 1e-3  # not the same distribution in general
    one_hot = torch.zeros(5, dtype=torch.float64)
    one_hot[3] = 1
    assert torch.allclose(expected_softmax(logits[0], one_hot), nwgm(logits[0], one_hot), atol=1e-12)


def test_distances():
    p = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    q = torch.tensor([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])
    assert torch.allclose(total_variation(p, q), torch.tensor([0.5, 0.0]))
    assert float(kl_divergence(p[1:], q[1:])) == 0.0
    assert float(kl_divergence(q[:1], q[:1])) == 0.0  # 0 log 0 = 0
    result = compare(p, q, targets=torch.tensor([1, 2]))
    assert result["top1"] == 0.5 and abs(result["tv"] - 0.25) < 1e-12 and result["target_log_gap"] == 0.0


def test_attention_steps_reproduce_the_model():
    model = _model()
    features, captions, lengths = _batch()
    steps = attention_steps(model, features, captions, lengths)
    out = model(features, captions, lengths)
    assert len(steps.targets) == int(out.mask.sum()) == 4 + 2 + 1
    assert steps.location_logits.shape == (7, L, K) and steps.alpha.shape == (7, L) and steps.beta.shape == (7,)
    assert steps.caption.tolist() == [0, 0, 0, 0, 1, 1, 2] and steps.step.tolist() == [0, 1, 2, 3, 0, 1, 0]
    log_p = torch.log_softmax(steps.soft_logits, dim=-1).gather(1, steps.targets.unsqueeze(1)).squeeze(1)
    per_caption = torch.zeros(3).index_add_(0, steps.caption, -log_p)
    assert torch.allclose(per_caption, out.caption_nll, atol=1e-5)
    assert torch.allclose(steps.alpha, out.log_alpha.exp()[out.mask], atol=1e-6)


def test_location_logits_are_hard_attention_at_that_location():
    # at the first step both models start from the same h_0, so n_{1,i} must be the hard model's logits with s_1 = i:
    # a one-step caption's −log p(<end> | s_1 = i) is a cross-entropy of the i-th location's logits
    model = _model()
    features, captions, lengths = _batch()
    captions, lengths = captions[2:], lengths[2:]  # "<start> <end>": one prediction step
    features = features[2:]
    steps = attention_steps(model, features, captions, lengths)
    for i in range(L):
        forced = model(features, captions, lengths, locations=torch.tensor([[i]])).caption_nll
        expected = -torch.log_softmax(steps.location_logits[0, i], dim=-1)[2]
        assert torch.allclose(forced[0], expected, atol=1e-5)


def test_identical_annotations_make_all_three_distributions_equal():
    model = _model()
    features, captions, lengths = _batch()
    features = features[:, :1].expand(-1, L, -1).contiguous()  # every location holds the same vector
    for recompute in (True, False):
        steps = attention_steps(model, features, captions, lengths, recompute_state=recompute)
        soft = torch.softmax(steps.soft_logits, dim=-1)
        assert torch.allclose(expected_softmax(steps.location_logits, steps.alpha), soft, atol=1e-5)
        assert torch.allclose(nwgm(steps.location_logits, steps.alpha), soft, atol=1e-5)
