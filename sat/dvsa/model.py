"""The alignment model of Karpathy & Fei-Fei (§3.1): regions (Eq. 1) and words (Eqs. 2–6) in one h-dimensional space,
scored by Eq. 8 (or Eq. 7) and trained with Eq. 9."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import AlignmentConfig
from .regions import RegionEmbedding
from .score import chunked_score_matrix, score_matrix, word_region_dots
from .sentence import BRNN


class AlignmentModel(nn.Module):
    """``forward(features, tokens, lengths) -> S`` (B_img, B_sent), the image–sentence score matrix.

    ``normalize`` (a deviation from the paper, which uses raw dot products) L2-normalises before the dot products:
    ``"both"`` — every ``v_i`` and ``s_t``, so each dot product is a cosine in [−1, 1] and, with ``length_norm``, the
    score is the mean over words of the best cosine; ``"regions"`` — only the ``v_i``, so the length of ``s_t`` still
    lets the model weigh words (a small vector for "a", a long one for "dog"); ``"none"`` — the paper's Eq. 8.
    """

    def __init__(self, vocab_size: int, feature_dim: int, word_dim: int = 300, hidden_dim: int = 512,
                 dropout: float = 0.0, recurrent_init: float = 0.5, score: str = "eq8", length_norm: bool = True,
                 normalize: str = "both", region_grid: int | None = None, whole_pool: str = "mean",
                 image_mlp: int = 0) -> None:
        super().__init__()
        self.regions = RegionEmbedding(feature_dim, hidden_dim, dropout, region_grid, whole_pool, image_mlp)
        self.sentences = BRNN(vocab_size, word_dim, hidden_dim, dropout, recurrent_init)
        if normalize not in ("both", "regions", "none"):
            raise ValueError(f"normalize must be 'both', 'regions' or 'none', not {normalize!r}")
        self.score_kind, self.length_norm, self.normalize = score, length_norm, normalize

    @classmethod
    def from_config(cls, config: AlignmentConfig, vocab_size: int, feature_dim: int) -> "AlignmentModel":
        return cls(vocab_size, feature_dim, config.word_dim, config.hidden_dim, config.dropout, config.recurrent_init,
                   config.score, config.length_norm, config.normalize, config.region_grid, config.whole_pool,
                   config.image_mlp)

    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` (B, L, D) → regions ``v`` (B, R, h), R = L + 1 (or ``region_grid``² + 1); the last region is
        the whole image."""
        v = self.regions(features.float())  # (B, R, h)
        return v if self.normalize == "none" else F.normalize(v, dim=-1)

    def embed_sentences(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``tokens`` (B, T), ``lengths`` (B,) → word vectors ``s`` (B, T, h), zero on padding."""
        s = self.sentences(tokens, lengths)  # (B, T, h)
        return F.normalize(s, dim=-1) if self.normalize == "both" else s

    def score(self, v: torch.Tensor, s: torch.Tensor, lengths: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Eq. 8 (or 7) for every pair: ``v`` (Bi, R, h), ``s`` (Bs, T, h) → (Bi, Bs)."""
        if chunk:
            return chunked_score_matrix(v, s, lengths, self.score_kind, self.length_norm, chunk)
        return score_matrix(v, s, lengths, self.score_kind, self.length_norm)

    def forward(self, features: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``features`` (Bi, L, D), ``tokens`` (Bs, T), ``lengths`` (Bs,) → scores ``S`` (Bi, Bs)."""
        return self.score(self.embed_images(features), self.embed_sentences(tokens, lengths), lengths)

    @torch.no_grad()
    def word_region_scores(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The unary terms of the snippet MRF for one image and one sentence: ``features`` (L, D), ``tokens`` (N,)
        → ``v_i^T s_j`` as (N, L + 1)."""
        v = self.embed_images(features[None])  # (1, L+1, h)
        s = self.embed_sentences(tokens[None], torch.tensor([tokens.shape[0]]))  # (1, N, h)
        return word_region_dots(v, s)[0, 0].T  # (N, L+1)
