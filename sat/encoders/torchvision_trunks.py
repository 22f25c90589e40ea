"""The paper's VGG-19 (conv5_4, 14×14×512 at 224 px) and ResNet-101 (layer4, 7×7×2048) from torchvision.

The trunks are built on PyTorch's ``meta`` device, without memory or random initialisation (1.5 s for VGG's 120 M
classifier weights alone); ``weights.py`` then fills them with ImageNet weights. Their parameter names are
torchvision's, so torchvision's own ``state_dict`` files load as they are.
"""
from __future__ import annotations

import torch
import torchvision
from torch import nn


class VGG19Conv54(nn.Module):
    """VGG-19 up to conv5_4 and its ReLU, before the last max-pool: 14×14×512 at 224 px (L = 196, D = 512), §4.3."""

    feature_dim = 512

    def __init__(self) -> None:
        super().__init__()
        with torch.device("meta"):
            vgg = torchvision.models.vgg19()
        self.features = vgg.features[:36]  # layers 0..35 end with conv5_4 + ReLU; layer 36 is the last max-pool

    @staticmethod
    def grid(image_size: int) -> tuple[int, int]:
        side = image_size // 16  # four 2×2 max-pools
        return side, side

    def blocks(self) -> list[nn.Module]:
        """The five convolution stages, each ending where a max-pool follows."""
        stages, current = [], []
        for layer in self.features:
            current.append(layer)
            if isinstance(layer, nn.MaxPool2d):
                stages.append(nn.Sequential(*current))
                current = []
        return stages + [nn.Sequential(*current)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images).flatten(2).transpose(1, 2)  # (B, 512, h, w) → (B, L, 512)


class ResNet101Layer4(nn.Module):
    """ResNet-101 without its pooling and classifier: layer4, 7×7×2048 at 224 px (L = 49, D = 2048)."""

    feature_dim = 2048

    def __init__(self) -> None:
        super().__init__()
        with torch.device("meta"):
            resnet = torchvision.models.resnet101()
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4

    @staticmethod
    def grid(image_size: int) -> tuple[int, int]:
        side = -(-image_size // 32)  # five stride-2 stages, each rounding up
        return side, side

    def blocks(self) -> list[nn.Module]:
        return [nn.Sequential(self.conv1, self.bn1), self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))  # (B, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 2048, H/32, W/32)
        return x.flatten(2).transpose(1, 2)  # (B, L, 2048)
