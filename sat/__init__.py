"""sat — Show, Attend and Tell and Deep Visual-Semantic Alignments, reproduced in PyTorch."""

__version__ = "0.1.0"
