"""The paper's attention figure (Xu et al. 2015, Figs. 2, 3 and 5): one panel per generated word, showing where the
model looked — α_t on the h×w annotation grid, upsampled to the image size and smoothed with a Gaussian filter,
over the image as the encoder saw it (squashed to a square).

The upsampling factor is image size / grid side (×16 for a 14×14 grid at 224 px as in the paper, ×32 for
EfficientNet-Lite0's 7×7 grid); the Gaussian's σ is 1.25 × that factor, the paper's σ = 20 at ×16 (arctic-captions
used ``skimage.transform.pyramid_expand(alpha, upscale=16, sigma=20)``). Hard attention is drawn as the one-hot map
of the attended location (the argmax of α_t) through the same filter.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from scipy import ndimage

MODES = ("soft", "hard")
SIGMA_PER_UPSCALE = 20 / 16  # the paper's smoothing relative to its upsampling factor


def square_grid(locations: int) -> tuple[int, int]:
    """(h, w) of a square grid with ``locations`` cells; anything else needs an explicit grid."""
    side = math.isqrt(locations)
    if side * side != locations:
        raise ValueError(f"{locations} attention locations are not a square grid: pass grid=(h, w)")
    return side, side


def upsample_attention(alpha: np.ndarray, grid: tuple[int, int], image_size: int, mode: str = "soft",
                       sigma: float | None = None) -> np.ndarray:
    """One α_t (L,) → a smoothed map (image_size, image_size) min–max scaled to [0, 1] per panel
    (as ``imshow`` scaled each panel in the authors' notebooks).

    ``mode="hard"`` keeps only the attended location (argmax). ``sigma`` defaults to 1.25 × the upsampling factor.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    height, width = grid
    alpha = np.asarray(alpha, dtype=np.float64).reshape(height, width)  # (h, w)
    if mode == "hard":
        one_hot = np.zeros_like(alpha)
        one_hot[np.unravel_index(int(alpha.argmax()), alpha.shape)] = 1.0
        alpha = one_hot
    factors = (image_size / height, image_size / width)
    upsampled = ndimage.zoom(alpha, factors, order=1, grid_mode=True, mode="nearest")  # (image_size, image_size)
    if sigma is None:
        sigma = SIGMA_PER_UPSCALE * max(factors)
    smoothed = ndimage.gaussian_filter(upsampled, sigma=sigma, mode="nearest")
    low, high = smoothed.min(), smoothed.max()
    if high - low < 1e-12:  # uniform attention: a neutral grey, no place stands out
        return np.full_like(smoothed, 0.5)
    return (smoothed - low) / (high - low)


def _as_image(image: Image.Image | np.ndarray | str | Path, image_size: int) -> np.ndarray:
    """The picture as the encoder saw it: RGB, squashed to (image_size, image_size, 3) uint8."""
    if isinstance(image, (str, Path)):
        from ..data.images import load_image

        image = load_image(image)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image.astype(np.uint8))
    return np.asarray(image.convert("RGB").resize((image_size, image_size), Image.BILINEAR))


def plot_attention(image: Image.Image | np.ndarray | str | Path, words: Sequence[str],
                   alphas: np.ndarray | torch.Tensor, grid: tuple[int, int] | None = None, mode: str = "soft",
                   image_size: int = 224, columns: int = 5, panel_inches: float = 2.2, sigma: float | None = None,
                   title: str | None = None, path: str | Path | None = None) -> Figure:
    """One panel per word: the image with that word's attention map over it, the word as the panel's title.

    ``alphas`` is (n_words, L) — row t is α_t, used to produce ``words[t]``; ``grid`` (h, w) defaults to a square.
    Saves a PNG to ``path`` when given. Returns the :class:`~matplotlib.figure.Figure` (no pyplot state involved).
    """
    if isinstance(alphas, torch.Tensor):
        alphas = alphas.detach().float().cpu().numpy()
    alphas = np.asarray(alphas, dtype=np.float64)  # (n_words, L)
    if alphas.ndim != 2 or alphas.shape[0] != len(words):
        raise ValueError(f"need one attention row per word: {len(words)} words, alphas of shape {alphas.shape}")
    if not words:
        raise ValueError("nothing to plot: the caption has no words")
    grid = grid or square_grid(alphas.shape[1])
    picture = _as_image(image, image_size)  # (S, S, 3)
    columns = max(1, min(columns, len(words)))
    rows = math.ceil(len(words) / columns)
    figure = Figure(figsize=(columns * panel_inches, rows * panel_inches + (0.4 if title else 0.0)))
    for index, (word, alpha) in enumerate(zip(words, alphas)):
        axis = figure.add_subplot(rows, columns, index + 1)
        axis.imshow(picture)
        axis.imshow(upsample_attention(alpha, grid, image_size, mode, sigma), cmap="gray", alpha=0.65,
                    vmin=0.0, vmax=1.0)
        axis.set_title(word, fontsize=11)
        axis.set_axis_off()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
    return figure
