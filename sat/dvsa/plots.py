"""Figures for the alignment model: which image region each word of a sentence aligns to (cf. paper Fig. 5)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch, Rectangle
from PIL import Image

from ..data.vocab import Vocabulary
from .alignment import snippets, viterbi
from .model import AlignmentModel


def region_box(region: int, grid: tuple[int, int], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Pixel box ``(x, y, w, h)`` of region ``region``: a grid cell (row-major), or the whole image for index L."""
    rows, cols = grid
    width, height = size
    if region >= rows * cols:
        return 0.0, 0.0, float(width), float(height)
    r, c = divmod(region, cols)
    return c * width / cols, r * height / rows, width / cols, height / rows


def align_caption(model: AlignmentModel, vocab: Vocabulary, features: torch.Tensor, words: Sequence[str],
                  beta: float = 0.0) -> tuple[list[int], torch.Tensor]:
    """Viterbi alignment (Eqs. 10–12) of ``words`` to the regions of one image (``features`` (L, D)).

    Returns the region of every word and the unary scores ``v_i^T s_j`` (N, L + 1).
    """
    tokens = torch.tensor(vocab.encode(list(words), add_special=False))  # (N,)
    unary = model.word_region_scores(features, tokens)  # (N, L+1)
    return viterbi(unary, beta)[0], unary


def plot_alignment(image: Image.Image | np.ndarray, words: Sequence[str], assignment: Sequence[int],
                   grid: tuple[int, int] = (7, 7), ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """Draw ``image`` with one coloured box per aligned region, labelled by the snippet of words aligned to it.

    ``assignment[j]`` is the region of ``words[j]``: a grid cell index (row-major over ``grid``) or ``L`` for the
    whole image, drawn as a frame around the picture.
    """
    image = np.asarray(image)
    height, width = image.shape[:2]
    ax = ax or plt.subplots(figsize=(5, 5.6))[1]
    ax.imshow(image)
    cmap = plt.get_cmap("tab10")
    handles = []
    for n, (region, text) in enumerate(snippets(list(words), list(assignment))):
        colour = cmap(n % 10)
        x, y, w, h = region_box(region, grid, (width, height))
        inset = 2 + 2 * (n % 3)  # nested frames stay visible when several snippets pick the whole image
        whole = region >= grid[0] * grid[1]
        ax.add_patch(Rectangle((x + inset * whole, y + inset * whole), w - 2 * inset * whole, h - 2 * inset * whole,
                               fill=False, edgecolor=colour, linewidth=2.5))
        if not whole:
            ax.text(x + 1, y + 1, str(n + 1), color="white", fontsize=8, va="top", ha="left",
                    bbox={"facecolor": colour, "pad": 1, "edgecolor": "none"})
        where = "whole image" if whole else f"cell {divmod(region, grid[1])}"
        handles.append(Patch(facecolor="none", edgecolor=colour, linewidth=2, label=f"{n + 1}. {text}  [{where}]"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=8, frameon=False)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_unary(unary: torch.Tensor, words: Sequence[str], assignment: Sequence[int] | None = None,
               ax: plt.Axes | None = None) -> plt.Axes:
    """Heat map of the word × region scores ``v_i^T s_j`` (N, L + 1); dots mark the chosen region of every word."""
    ax = ax or plt.subplots(figsize=(8, 0.3 * len(words) + 1))[1]
    ax.imshow(unary.numpy(), aspect="auto", cmap="viridis")
    if assignment is not None:
        ax.scatter(list(assignment), range(len(words)), color="red", s=12)
    ax.set_yticks(range(len(words)), list(words), fontsize=8)
    ax.set_xlabel("region (grid cells row-major, last = whole image)")
    return ax
