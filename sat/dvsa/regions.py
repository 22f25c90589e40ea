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

Two options go beyond Eq. 1 (deviations, tried on the dev split): ``whole_pool`` forms the whole-image vector by
generalised-mean (GeM, p = 3) or max pooling of the cells instead of their mean, and ``mlp`` adds a two-layer
perceptron to ``W_m`` (a residual whose last layer starts at zero, so training starts from Eq. 1 exactly).
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


WHOLE_POOLS = ("mean", "gem", "max")


def check_whole_pool(kind: str) -> str:
    """``kind`` if it names one of :data:`WHOLE_POOLS`; otherwise a ValueError that lists them."""
    if kind not in WHOLE_POOLS:
        raise ValueError(f"whole_pool must be one of {', '.join(WHOLE_POOLS)}, not {kind!r}")
    return kind


def pool_whole(features: torch.Tensor, kind: str = "mean", p: float = 3.0) -> torch.Tensor:
    """The whole-image vector of the cells ``features`` (B, L, D) → (B, D).

    ``"mean"``: the average cell (what the encoder's classifier sees); ``"max"``: each channel's largest cell;
    ``"gem"``: the generalised mean ``(mean_i x_i^p)^(1/p)`` of Radenović et al. (2019), between the two (p = 1 is the
    mean, p → ∞ the max). GeM needs non-negative features, as the encoder's ReLU6 outputs are.
    """
    if check_whole_pool(kind) == "mean":
        return features.mean(dim=1)  # (B, D)
    if kind == "max":
        return features.amax(dim=1)  # (B, D)
    return features.clamp_min(0).pow(p).mean(dim=1).pow(1.0 / p)  # (B, D), GeM


class RegionEmbedding(nn.Module):
    """``v_i = W_m CNN(I_b) + b_m`` (Eq. 1) for every grid cell and the whole image.

    ``grid`` (None: all L cells) pools the cells to a coarser ``grid``×``grid`` before projecting (0: whole image only).
    ``dropout`` acts on the CNN vectors before ``W_m`` (the paper uses dropout everywhere but in recurrent layers).
    The CNN vectors are first standardised per channel with statistics of the training cells (:meth:`set_feature_stats`;
    identity until set): the encoder's ReLU6 outputs are non-negative and mostly zero, so without centring every region
    would share one large common direction ``W_m μ`` and all cosines would start nearly equal. A whole-image vector
    pooled otherwise than by the mean (``whole_pool``) is standardised with statistics of its own.

    ``mlp`` > 0 adds ``W_2 ReLU(W_1 x + b_1)`` (``mlp`` hidden units) to ``W_m x + b_m``; ``W_2`` starts at zero.
    """

    def __init__(self, feature_dim: int, embed_dim: int, dropout: float = 0.0, grid: int | None = None,
                 whole_pool: str = "mean", mlp: int = 0) -> None:
        super().__init__()
        check_whole_pool(whole_pool)
        self.feature_dim, self.embed_dim, self.grid, self.whole_pool = feature_dim, embed_dim, grid, whole_pool
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("feature_mean", torch.zeros(feature_dim))  # (D,)
        self.register_buffer("feature_std", torch.ones(feature_dim))  # (D,)
        if whole_pool != "mean":  # (only then, so that checkpoints of the mean-pooled model load as they are)
            self.register_buffer("whole_mean", torch.zeros(feature_dim))  # (D,)
            self.register_buffer("whole_std", torch.ones(feature_dim))  # (D,)
        self.proj = nn.Linear(feature_dim, embed_dim)  # W_m, b_m
        nn.init.normal_(self.proj.weight, std=feature_dim ** -0.5)
        nn.init.zeros_(self.proj.bias)
        self.mlp = None
        if mlp:
            self.mlp = nn.Sequential(nn.Linear(feature_dim, mlp), nn.ReLU(), nn.Linear(mlp, embed_dim))
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

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
        if self.whole_pool != "mean":
            wholes = torch.cat([pool_whole(features[start:start + chunk].float(), self.whole_pool)
                                for start in range(0, features.shape[0], chunk)])  # (N, D)
            self.whole_mean.copy_(wholes.mean(dim=0))
            self.whole_std.copy_(wholes.std(dim=0).clamp_min(1e-2))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features``: (B, L, D) → regions ``v``: (B, R, h), R = L + 1 (or grid² + 1, see :func:`grid_regions`)."""
        cells = (features - self.feature_mean) / self.feature_std  # (B, L, D)
        regions = grid_regions(cells, self.grid)  # (B, R, D)
        if self.whole_pool != "mean":
            whole = (pool_whole(features, self.whole_pool) - self.whole_mean) / self.whole_std  # (B, D)
            regions = torch.cat([regions[:, :-1], whole[:, None]], dim=1)  # (B, R, D)
        regions = self.dropout(regions)
        v = self.proj(regions)  # (B, R, h)
        return v if self.mlp is None else v + self.mlp(regions)  # (B, R, h)
