"""sat.analysis.receptive_field: the receptive-field arithmetic against gradients, and the effective receptive field."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sat.analysis.receptive_field import (ReceptiveField, effective_receptive_field, mass_within, spatial_layers,
                                          theoretical_receptive_field)
from sat.encoders.torchvision_trunks import ResNet101Layer4, VGG19Conv54


class _Grid(nn.Module):
    """A linear conv net wrapped like a ``sat`` encoder: images → (B, L, D)."""

    def __init__(self, layers: nn.Sequential) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images).flatten(2).transpose(1, 2)


def _net() -> _Grid:
    torch.manual_seed(0)
    return _Grid(nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Conv2d(4, 4, 5, stride=2, padding=2),
        nn.AvgPool2d(2),
        nn.ZeroPad2d((0, 1, 0, 1)),  # not a spatial layer by itself: shifts nothing at the top/left
        nn.Conv2d(4, 4, 3, stride=2),  # (no dilation here: it leaves holes inside the field's span)
        nn.Conv2d(4, 3, 1),
    ))


def test_textbook_values():
    three = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
    field = theoretical_receptive_field(_Grid(three), 32)
    assert (field.size, field.jump, field.start, field.layers) == (7, 1, 0.0, 3)
    assert field.box(0, 0) == (-3.0, -3.0, 3.0, 3.0) and field.box(0, 0, image_size=32) == (0.0, 0.0, 3.0, 3.0)
    # dilation d spreads a k-kernel over (k − 1)·d + 1 inputs; a 2×2 max-pool after it centres cells between pixels
    dilated = theoretical_receptive_field(_Grid(nn.Sequential(nn.Conv2d(3, 1, 3, dilation=2), nn.MaxPool2d(2))), 32)
    assert (dilated.size, dilated.jump, dilated.start) == (6, 2, 2.5)


def test_paper_encoders():
    vgg = theoretical_receptive_field(VGG19Conv54(), 224)  # built on the meta device: no weights needed
    assert (vgg.size, vgg.jump, vgg.start, vgg.layers) == (252, 16, 7.5, 20)
    resnet = theoretical_receptive_field(ResNet101Layer4(), 224)  # the parallel 1×1 downsample convs are skipped
    assert (resnet.size, resnet.jump, resnet.start) == (971, 32, 0.0)
    names = [layer.name for layer in spatial_layers(ResNet101Layer4(), 64)]
    assert not any("downsample" in name for name in names) and names[0] == "conv1"


def test_gradient_support_is_the_theoretical_field():
    net = _net()
    size = 96
    field = theoretical_receptive_field(net, size)
    images = torch.randn(1, 3, size, size)
    grid = net(images).shape[1]
    side = int(grid ** 0.5)
    for row, column in [(0, 0), (side // 2, side // 2), (side - 1, 1)]:
        support = np.argwhere(effective_receptive_field(net, images, row, column) > 0)
        x0, y0, x1, y1 = field.box(row, column, image_size=size)
        assert tuple(support.min(0)) == (y0, x0) and tuple(support.max(0)) == (y1, x1)


def test_static_same_padding_shifts_the_centres():
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

    net = _Grid(nn.Sequential(Conv2dStaticSamePadding(3, 2, 3, stride=2, image_size=16)))  # pads (0, 1): right only
    field = theoretical_receptive_field(net, 16)
    assert (field.size, field.jump, field.start) == (3, 2, 1.0)  # output 0 sees input pixels 0, 1, 2


@pytest.mark.slow
def test_effective_field_matches_finite_differences_at_batch_size_one():
    # Seeding the encoder's (B, L, D) output directly gives wrong input gradients on PyTorch 2.x CPU for B = 1 (a
    # BatchNorm backward with an odd batch stride); the helper must not.
    from sat.encoders import build_encoder

    torch.set_num_threads(1)
    encoder = build_encoder("efficientnet-lite0")
    net = encoder.trunk.net.double()
    images = torch.randn(1, 3, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    saliency = effective_receptive_field(encoder, images, 3, 3)
    exact = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net.extract_features(exact)[0, :, 3, 3].sum(), exact)  # contiguous seed: correct
    with torch.no_grad():
        base = net.extract_features(images)[0, :, 3, 3].sum()
        for y, x in [(111, 111), (40, 200)]:
            moved = images.clone()
            moved[0, 0, y, x] += 1e-5
            numeric = float((net.extract_features(moved)[0, :, 3, 3].sum() - base) / 1e-5)
            assert abs(float(grad[0, 0, y, x]) - numeric) < 1e-4 * max(1.0, abs(numeric))
    reference = grad.abs().sum(dim=(0, 1)).numpy()
    np.testing.assert_allclose(saliency, reference, rtol=1e-9, atol=1e-12)


def test_mass_within():
    delta = np.zeros((21, 21))
    delta[10, 10] = 1.0
    assert mass_within(delta, (10, 10), 0.5) == 1
    flat = np.ones((21, 21))
    assert mass_within(flat, (10, 10), 1.0) == 21
    assert mass_within(flat, (10, 10), 9 / 441) == 3  # the 3×3 square holds 9 of 441 pixels
    with pytest.raises(ValueError):
        mass_within(flat, (10, 10), 0.0)


def test_receptive_field_box_and_centres():
    field = ReceptiveField(size=5, jump=4, start=1.5, layers=2)
    assert field.center(2) == 9.5
    assert field.box(1, 2) == (7.5, 3.5, 11.5, 7.5)
