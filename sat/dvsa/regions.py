"""Image regions for the alignment model (Karpathy & Fei-Fei, §3.1.1, Eq. 1).

The paper embeds the whole image and its top 19 R-CNN detections: ``v_i = W_m [CNN_θc(I_b)] + b_m`` (Eq. 1), 20 regions
of h dimensions. No detector is available here, so the *regions* are the L cells of the attention encoder's grid
(7×7 = 49 at 224 px for EfficientNet-Lite0) plus their mean — the "whole image" — and all of them go through the same
``W_m``: L + 1 regions of h dimensions.

What this changes: grid cells have a fixed size and position, so one object may be cut over several cells and one cell
may hold parts of several objects; a word like "dog" must be matched by its best cell, not by a box around the dog.
The cells' receptive fields, however, cover most of the image, so each cell still sees context.

``region_grid`` (:class:`sat.dvsa.config.AlignmentConfig`) chooses the regions: every cell (``None``, the default), the
cells averaged into a coarser n×n grid (``n``), or the whole image alone (``0``). On the Flickr8k dev split the whole
image alone ranked best (``configs/dvsa_flickr8k.yaml``); since ``W_m`` is one linear map, a model trained that way can
still score single cells at test time (set ``model.regions.grid``), which is how its word–region alignments are drawn.
"""
from __future__ import annotations

import torch
from torch import nn


def pool_cells(features: torch.Tensor, grid: int) -> torch.Tensor:
    """Average the square grid of cells ``features`` (B, L, D), L = g·g, into ``grid``×``grid`` coarser cells.

    Adaptive average pooling as in :func:`torch.nn.functional.adaptive_avg_pool2d` (windows may overlap when g is not a
    multiple of ``grid``; 7 → 2 averages rows/columns 0–3 and 3–6). Returns (B, grid·grid, D), row-major;
    ``grid == g`` returns ``features`` unchanged and ``grid == 0`` returns no cells, (B, 0, D).
    """
    B, L, D = features.shape
    side = int(round(L ** 0.5))
    if side * side != L:
        raise ValueError(f"pool_cells needs a square grid of cells, got L = {L}")
    if grid == side:
        return features
    if grid == 0:
        return features[:, :0]  # (B, 0, D)
    maps = features.transpose(1, 2).reshape(B, D, side, side)  # (B, D, g, g)
    pooled = torch.nn.functional.adaptive_avg_pool2d(maps, grid)  # (B, D, grid, grid)
    return pooled.flatten(2).transpose(1, 2)  # (B, grid·grid, D)


def grid_regions(features: torch.Tensor, grid: int | None = None) -> torch.Tensor:
    """Append the mean-pooled whole-image vector to the grid cells.

    ``features``: (B, L, D) encoder annotation vectors → (B, R, D) with the whole image last: R = L + 1 with
    ``grid=None`` (every cell), R = grid² + 1 with the cells first pooled to ``grid``×``grid`` (:func:`pool_cells`),
    R = 1 (the whole image alone) with ``grid=0``.
    """
    whole = features.mean(dim=1, keepdim=True)  # (B, 1, D)
    cells = features if grid is None else pool_cells(features, grid)  # (B, R-1, D)
    return torch.cat([cells, whole], dim=1)  # (B, R, D)


class RegionEmbedding(nn.Module):
    """``v_i = W_m CNN(I_b) + b_m`` (Eq. 1) for every grid cell and the whole image.

    ``grid`` (None: all L cells) pools the cells to a coarser ``grid``×``grid`` before projecting (0: whole image only).
    ``dropout`` acts on the CNN vectors before ``W_m`` (the paper uses dropout everywhere but in recurrent layers).
    The CNN vectors are first standardised per channel with statistics of the training cells (:meth:`set_feature_stats`;
    identity until set): the encoder's ReLU6 outputs are non-negative and mostly zero, so without centring every region
    would share one large common direction ``W_m μ`` and all cosines would start nearly equal.
    """

    def __init__(self, feature_dim: int, embed_dim: int, dropout: float = 0.0, grid: int | None = None) -> None:
        super().__init__()
        self.feature_dim, self.embed_dim, self.grid = feature_dim, embed_dim, grid
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
        """``features``: (B, L, D) → regions ``v``: (B, R, h), R = L + 1 (or grid² + 1, see :func:`grid_regions`)."""
        features = (features - self.feature_mean) / self.feature_std  # (B, L, D)
        regions = grid_regions(features, self.grid)  # (B, R, D)
        return self.proj(self.dropout(regions))  # (B, R, h)
