"""Image regions for the alignment model (Karpathy & Fei-Fei, §3.1.1, Eq. 1).

The paper embeds the whole image and its top 19 R-CNN detections: ``v_i = W_m [CNN_θc(I_b)] + b_m`` (Eq. 1), 20 regions
of h dimensions. No detector is available here, so the *regions* are the L cells of the attention encoder's grid
(7×7 = 49 at 224 px for EfficientNet-Lite0) plus their mean — the "whole image" — and all of them go through the same
``W_m``: L + 1 regions of h dimensions.

What this changes: grid cells have a fixed size and position, so one object may be cut over several cells and one cell
may hold parts of several objects; a word like "dog" must be matched by its best cell, not by a box around the dog.
The cells' receptive fields, however, cover most of the image, so each cell still sees context.
"""
from __future__ import annotations

import torch
from torch import nn


def grid_regions(features: torch.Tensor) -> torch.Tensor:
    """Append the mean-pooled whole-image vector to the grid cells.

    ``features``: (B, L, D) encoder annotation vectors → (B, L + 1, D); the last region is the whole image.
    """
    whole = features.mean(dim=1, keepdim=True)  # (B, 1, D)
    return torch.cat([features, whole], dim=1)  # (B, L+1, D)


class RegionEmbedding(nn.Module):
    """``v_i = W_m CNN(I_b) + b_m`` (Eq. 1) for every grid cell and the whole image.

    ``dropout`` acts on the CNN vectors before ``W_m`` (the paper uses dropout everywhere but in recurrent layers).
    The CNN vectors are first standardised per channel with statistics of the training cells (:meth:`set_feature_stats`;
    identity until set): the encoder's ReLU6 outputs are non-negative and mostly zero, so without centring every region
    would share one large common direction ``W_m μ`` and all cosines would start nearly equal.
    """

    def __init__(self, feature_dim: int, embed_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.feature_dim, self.embed_dim = feature_dim, embed_dim
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("feature_mean", torch.zeros(feature_dim))  # (D,)
        self.register_buffer("feature_std", torch.ones(feature_dim))  # (D,)
        self.proj = nn.Linear(feature_dim, embed_dim)  # W_m, b_m
        nn.init.normal_(self.proj.weight, std=feature_dim ** -0.5)
        nn.init.zeros_(self.proj.bias)

    @torch.no_grad()
    def set_feature_stats(self, features: torch.Tensor, chunk: int = 500) -> None:
        """Per-channel mean and standard deviation over all cells of ``features`` (N, L, D), any float dtype."""
        total = torch.zeros(self.feature_dim, dtype=torch.float64)  # (D,)
        squares = torch.zeros(self.feature_dim, dtype=torch.float64)  # (D,)
        count = 0
        for start in range(0, features.shape[0], chunk):
            cells = features[start:start + chunk].double().reshape(-1, self.feature_dim)  # (n·L, D)
            total += cells.sum(dim=0)
            squares += (cells ** 2).sum(dim=0)
            count += cells.shape[0]
        mean = total / count  # (D,)
        std = (squares / count - mean ** 2).clamp_min(0).sqrt()  # (D,)
        self.feature_mean.copy_(mean.float())
        self.feature_std.copy_(std.float().clamp_min(1e-2))  # channels that never fire stay (almost) unscaled

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features``: (B, L, D) → regions ``v``: (B, L + 1, h)."""
        features = (features - self.feature_mean) / self.feature_std  # (B, L, D)
        regions = grid_regions(features)  # (B, L+1, D)
        return self.proj(self.dropout(regions))  # (B, L+1, h)
