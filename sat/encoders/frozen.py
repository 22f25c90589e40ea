"""A pretrained CNN used as the annotation extractor: frozen, and kept in eval mode whatever its parent's mode.

The paper does not fine-tune its encoder (§4.3). Freezing the weights is not enough: a frozen network whose
BatchNorm layers are put in train mode (by ``model.train()``) keeps updating their running statistics from every
batch, so the "frozen" features drift — a bug of the popular sgrvinod port. Here the trunk never leaves eval mode; the
last ``finetune_blocks`` blocks can still learn their weights (BatchNorm keeps its ImageNet statistics).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Encoder(nn.Module):
    """images (B, 3, H, W), ImageNet-normalised → annotation vectors (B, L, D) from ``trunk``.

    ``trunk`` maps images to (B, L, D) and has ``feature_dim`` and ``grid(image_size)``; ``blocks`` are its stages
    from input to output, of which the last ``finetune_blocks`` stay trainable (all of them when ``trainable``).
    """

    def __init__(self, name: str, trunk: nn.Module, blocks: Sequence[nn.Module], finetune_blocks: int = 0,
                 trainable: bool = False) -> None:
        super().__init__()
        if not 0 <= finetune_blocks <= len(blocks):
            raise ValueError(f"{name} has {len(blocks)} blocks to fine-tune; finetune_blocks={finetune_blocks}")
        self.name = name
        self.feature_dim: int = trunk.feature_dim
        self.trunk = trunk
        self.trunk.requires_grad_(trainable)
        for block in blocks[len(blocks) - finetune_blocks:]:
            block.requires_grad_(True)
        self.trunk.eval()

    def grid(self, image_size: int) -> tuple[int, int]:
        """(rows, columns) of the annotation grid for square images of ``image_size`` pixels; L = rows · columns."""
        return self.trunk.grid(image_size)

    def train(self, mode: bool = True) -> "Encoder":
        super().train(mode)
        self.trunk.eval()  # BatchNorm statistics and dropout stay as pretrained
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)  # (B, L, D)
