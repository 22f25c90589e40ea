"""Every model can memorise a handful of captions: the loss goes to near zero, with soft and with hard attention."""
from __future__ import annotations

import pytest
import torch

from _model_helpers import V, random_batch, tiny_config
from sat.models import build_model

torch.set_num_threads(1)
SETTINGS = {
    "sat-soft": dict(),
    "sat-hard": dict(attention="hard"),
    "nic": dict(kind="nic"),
    "mrnn": dict(kind="mrnn"),
}


@pytest.mark.parametrize("name", SETTINGS)
def test_overfits_a_handful_of_captions(name):
    torch.manual_seed(0)
    model = build_model(tiny_config(hidden_dim=32, embed_dim=16, **SETTINGS[name]), V).train()
    features, captions, lengths = random_batch(6)  # six images, one to four random words each
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimizer.zero_grad()
        model.loss(features, captions, lengths).loss.backward()
        optimizer.step()
    assert model.eval().loss(features, captions, lengths).nll.item() < 0.05  # per word; chance is log 12 ≈ 2.5
