"""What every caption model must satisfy: padding never matters, and decoding step by step agrees with training."""
from __future__ import annotations

import pytest
import torch

from _model_helpers import V, all_model_configs, random_batch, tiny_config
from sat.models import ModelConfig, MultimodalRNN, ShowAndTell, ShowAttendTell, build_model
from sat.models.captions import caption_nll, log_frequency_bias

torch.set_num_threads(1)
CONFIGS = all_model_configs()


def loss_and_grads(model, features, captions, lengths, seed=0):
    torch.manual_seed(seed)  # same dropout masks, same coin and samples for hard attention
    model.zero_grad()
    out = model.loss(features, captions, lengths)
    out.loss.backward()
    return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", CONFIGS)
def test_padding_never_affects_the_loss(name):
    torch.manual_seed(1)
    config = CONFIGS[name]
    config.dropout = 0.5
    model = build_model(config, V).train()
    features, captions, lengths = random_batch(4)
    garbage = captions.clone()
    beyond = torch.arange(captions.size(1)) >= lengths.unsqueeze(1)  # (B, T+1) padding positions
    garbage[beyond] = torch.randint(1, V, (int(beyond.sum()),))
    wider = torch.cat([garbage, torch.randint(1, V, (4, 3))], dim=1)  # extra padding columns too
    reference, reference_grads = loss_and_grads(model, features, captions, lengths)
    for other in (garbage, wider):
        result, grads = loss_and_grads(model, features, other, lengths)
        assert result.loss.item() == reference.loss.item()
        assert result.nll.item() == reference.nll.item() and result.num_words == reference.num_words
        assert grads.keys() == reference_grads.keys()
        for key in grads:
            torch.testing.assert_close(grads[key], reference_grads[key], rtol=0, atol=0)
    assert reference.num_words == int((lengths - 1).sum())


@pytest.mark.parametrize("name", CONFIGS)
def test_step_by_step_decoding_matches_teacher_forcing(name):
    """Feeding a caption's words through ``step`` gives the log-likelihood the training pass computes (eval mode)."""
    torch.manual_seed(2)
    model = build_model(CONFIGS[name], V).eval()
    features, captions, lengths = random_batch(4)
    with torch.no_grad():
        nll = model.loss(features, captions, lengths).nll
        state = model.init_state(features)
        total = torch.zeros(4)
        for t in range(captions.size(1) - 1):
            log_probs, state, alpha = model.step(captions[:, t], state)  # (B, V), ..., (B, L) | None
            real = t + 1 < lengths
            total += torch.where(real, log_probs.gather(1, captions[:, t + 1: t + 2]).squeeze(1), torch.zeros(4))
            if isinstance(model, ShowAttendTell):
                assert alpha.shape == (4, features.size(1))
                torch.testing.assert_close(alpha.sum(-1), torch.ones(4))
            else:
                assert alpha is None
    torch.testing.assert_close(-total.sum() / (lengths - 1).sum(), nll)


def test_build_model_kinds_and_log_frequency_bias():
    counts = torch.tensor([0, 0, 40, 1, 10, 20, 5, 5, 3, 2, 1, 0], dtype=torch.float)  # (V,)
    for name, cls in {"sat": ShowAttendTell, "nic": ShowAndTell, "mrnn": MultimodalRNN}.items():
        model = build_model(tiny_config(kind=name), V, word_counts=counts)
        assert isinstance(model, cls) and model.vocab_size == V
        bias = model.out_vocab.bias.detach()
        assert bias[2] == 0 and bias.argmax() == 2  # the most frequent id (<end>) gets 0
        torch.testing.assert_close(bias[4] - bias[5], torch.log(torch.tensor(10 / 20)))
        assert torch.isfinite(bias).all()  # ids never seen count once
        assert (build_model(tiny_config(kind=name), V).out_vocab.bias == 0).all()
    torch.testing.assert_close(log_frequency_bias(torch.tensor([1.0, 1.0])), torch.zeros(2))


def test_config_round_trip_and_validation():
    config = ModelConfig(attention="hard", hidden_dim=64, doubly_stochastic_target="C/L")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="hiden_dim"):
        ModelConfig.from_dict({"hiden_dim": 3})
    with pytest.raises(ValueError, match="attention"):
        ModelConfig(attention="medium")
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        ModelConfig(label_smoothing=1.0)


def test_label_smoothing_by_hand():
    torch.manual_seed(0)
    logits = torch.randn(3, 5)  # three real words of two captions over V = 5
    targets = torch.tensor([[1, 4, 0], [2, 0, 0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    log_p = logits.log_softmax(dim=-1)  # (3, 5)
    word_nll = -log_p[torch.arange(3), targets[mask]]  # (3,)
    torch.testing.assert_close(caption_nll(logits, targets, mask), torch.stack([word_nll[:2].sum(), word_nll[2]]))
    smoothed_words = 0.8 * word_nll + 0.2 * -log_p.mean(dim=-1)  # (1 − ε)·(−log p(y)) + ε·mean_v(−log p(v))
    torch.testing.assert_close(caption_nll(logits, targets, mask, 0.2),
                               torch.stack([smoothed_words[:2].sum(), smoothed_words[2]]))


@pytest.mark.parametrize("name", CONFIGS)
def test_label_smoothing_changes_the_loss_not_the_reported_likelihood(name):
    features, captions, lengths = random_batch(4)
    plain = build_model(CONFIGS[name], V).eval()
    smoothed = build_model(ModelConfig.from_dict({**CONFIGS[name].to_dict(), "label_smoothing": 0.1}), V).eval()
    smoothed.load_state_dict(plain.state_dict())
    a, b = plain.loss(features, captions, lengths), smoothed.loss(features, captions, lengths)
    assert b.nll.item() == a.nll.item()  # still −log p(y|a) per word, for the log and perplexity
    assert b.loss.item() > a.loss.item()  # a near-uniform untrained model: the smoothed targets cost more here
