"""Figures for the book and ``sat caption --plot``: attention over the image, and training curves."""
from .attention import plot_attention, square_grid, upsample_attention
from .curves import plot_training_curves, read_log

__all__ = ["plot_attention", "upsample_attention", "square_grid", "plot_training_curves", "read_log"]
