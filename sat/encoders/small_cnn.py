"""A small convolutional network trained from scratch, for the synthetic "shapes" scenes (64×64 → 8×8 grid of 128).

Three stages of two 3×3 convolutions with ReLU and a 2×2 max-pool: each grid cell sees a 8×8 patch of the image
directly and a wider context through the stacked convolutions, enough to tell a shape's kind and colour.
"""
from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """images (B, 3, H, W) → (B, H/8 · W/8, 128)."""

    feature_dim = 128

    def __init__(self, channels: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        stages, in_channels = [], 3
        for out_channels in channels:
            stages.append(nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(),
                nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU(),
                nn.MaxPool2d(2),
            ))
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.feature_dim = channels[-1]

    @staticmethod
    def grid(image_size: int) -> tuple[int, int]:
        side = image_size // 8  # three 2×2 max-pools
        return side, side

    def blocks(self) -> list[nn.Module]:
        return list(self.stages)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.stages(images).flatten(2).transpose(1, 2)  # (B, C, H/8, W/8) → (B, L, C)
