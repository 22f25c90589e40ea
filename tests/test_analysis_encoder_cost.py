"""sat.analysis.encoder_cost: parameters, MACs, timing, and the untrained copies of the paper's encoders."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from sat.analysis.encoder_cost import count_macs, count_parameters, seconds_per_image, untrained_encoder


def test_count_macs_of_one_convolution():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, 16) == 8 * 3 * 3 * 3 * 16 * 16
    assert count_parameters(conv) == 8 * 3 * 3 * 3 + 8
    assert next(conv.parameters()).device.type == "cpu"  # counted on a meta copy, the module is untouched


def test_untrained_vgg_has_the_papers_shapes():
    vgg = untrained_encoder("vgg19", seed=0)
    assert count_parameters(vgg) == 20_024_384  # VGG-19's 16 convolutions up to conv5_4
    with torch.no_grad():
        out = vgg(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 16, 512) and vgg.grid(224) == (14, 14)
    assert torch.isfinite(out).all()
    again = untrained_encoder("vgg19", seed=0)
    first = next(vgg.parameters())
    assert torch.equal(first, next(again.parameters()))  # same seed, same weights
    assert count_macs(vgg, 224) == 19_508_428_800 // 1  # 19.5 GMACs
    with pytest.raises(ValueError):
        untrained_encoder("alexnet")


def test_untrained_encoder_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    untrained_encoder("resnet101", seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_seconds_per_image_is_positive():
    assert seconds_per_image(nn.Conv2d(3, 4, 3), 16, batch_size=2, repeats=2) > 0
