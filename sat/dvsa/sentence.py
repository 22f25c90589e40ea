"""The bidirectional recurrent sentence encoder (Karpathy & Fei-Fei, §3.1.2, Eqs. 2–6).

With f = ReLU and ``1_t`` the one-hot index of word t::

    x_t   = W_w 1_t                                   (2)
    e_t   = f(W_e x_t + b_e)                          (3)
    h^f_t = f(e_t + W_f h^f_{t-1} + b_f)              (4)
    h^b_t = f(e_t + W_b h^b_{t+1} + b_b)              (5)
    s_t   = f(W_d (h^f_t + h^b_t) + b_d)              (6)

Each word gets an h-dimensional vector ``s_t`` that depends on the whole sentence around it. Sentences in a batch are
padded on the right; the backward pass starts at each sentence's own last word, so padding never reaches a real word.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` (B, T, …) within its own length; padding stays at the end.

    Applying it twice gives ``x`` back.
    """
    B, T = x.shape[:2]
    steps = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    index = index.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)  # (B, T, …)
    return x.gather(1, index)


class BRNN(nn.Module):
    """Eqs. 2–6 with ReLU; ``forward(tokens, lengths) -> s`` (B, T, h), zero at padded positions.

    Initialisation matters for a ReLU RNN: the recurrent matrices ``W_f`` and ``W_b`` start as ``recurrent_init · I``
    (Le et al.'s IRNN; 0.5 keeps the 20-step products bounded), the other matrices with variance 2/fan_in (He), and
    ``b_d`` slightly positive so no word vector starts dead. Dropout (p) acts on ``x_t`` and on ``h^f_t + h^b_t``, not
    inside the recurrence, as in the paper.
    """

    def __init__(self, vocab_size: int, word_dim: int = 300, hidden_dim: int = 512, dropout: float = 0.0,
                 recurrent_init: float = 0.5, padding_idx: int = 0) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=padding_idx)  # W_w
        self.W_e = nn.Linear(word_dim, hidden_dim)
        self.W_f = nn.Linear(hidden_dim, hidden_dim)  # its bias is b_f
        self.W_b = nn.Linear(hidden_dim, hidden_dim)  # its bias is b_b
        self.W_d = nn.Linear(hidden_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.embed.weight, std=1.0)
        with torch.no_grad():
            self.embed.weight[padding_idx].zero_()
        for lin in (self.W_e, self.W_d):
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        nn.init.constant_(self.W_d.bias, 0.01)
        for lin in (self.W_f, self.W_b):
            nn.init.eye_(lin.weight)
            lin.weight.data.mul_(recurrent_init)
            nn.init.zeros_(lin.bias)

    def load_word_vectors(self, path: str | Path, itos: list[str]) -> int:
        """Initialise ``W_w`` rows from a text file of ``word v1 v2 …`` lines (word2vec/GloVe text format).

        Returns how many vocabulary words were found. The vector size must equal ``word_dim``.
        """
        wanted = {w: i for i, w in enumerate(itos)}
        found = 0
        with open(path, encoding="utf-8", errors="replace") as handle, torch.no_grad():
            for line in handle:
                parts = line.rstrip().split(" ")
                if len(parts) != self.embed.embedding_dim + 1 or parts[0] not in wanted:
                    continue
                self.embed.weight[wanted[parts[0]]] = torch.tensor([float(v) for v in parts[1:]])
                found += 1
        return found

    def _recur(self, e: torch.Tensor, lin: nn.Linear, mask: torch.Tensor) -> torch.Tensor:
        """``h_t = f(e_t + W h_{t-1} + b)`` over the time axis of ``e`` (B, T, h) → (B, T, h); h is zero past the end."""
        B, T, H = e.shape
        h = e.new_zeros(B, H)  # (B, h)
        out = []
        for t in range(T):
            h = torch.relu(e[:, t] + lin(h)) * mask[:, t, None]  # (B, h)
            out.append(h)
        return torch.stack(out, dim=1)  # (B, T, h)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``tokens``: (B, T) word ids padded on the right, ``lengths``: (B,) → ``s``: (B, T, h)."""
        T = tokens.shape[1]
        mask = (torch.arange(T, device=tokens.device)[None, :] < lengths.to(tokens.device)[:, None])  # (B, T)
        mask = mask.to(self.embed.weight.dtype)
        x = self.dropout(self.embed(tokens))  # (B, T, word_dim)            Eq. 2
        e = torch.relu(self.W_e(x))  # (B, T, h)                             Eq. 3
        h_f = self._recur(e, self.W_f, mask)  # (B, T, h)                     Eq. 4
        h_b = reverse_padded(self._recur(reverse_padded(e, lengths), self.W_b, mask), lengths)  # (B, T, h)  Eq. 5
        s = torch.relu(self.W_d(self.dropout(h_f + h_b)))  # (B, T, h)       Eq. 6
        return s * mask[..., None]  # (B, T, h)
