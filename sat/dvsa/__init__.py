"""Karpathy & Fei-Fei, "Deep Visual-Semantic Alignments for Generating Image Descriptions" (CVPR 2015), §3.1:
the image–sentence alignment model, retrieval evaluation and snippet alignment.

* :class:`AlignmentModel` — regions (Eq. 1, grid cells + whole image), BRNN words (Eqs. 2–6), score Eq. 8 / Eq. 7
* :func:`ranking_loss` — Eq. 9 over a batch matrix
* :func:`retrieval_metrics` — R@1/5/10 and median rank, image annotation and image search
* :func:`viterbi` — the chain-MRF snippet alignment (Eqs. 10–12)
* :func:`train_alignment`, :class:`AlignmentConfig`, :func:`load_checkpoint`, :func:`evaluate_checkpoint_retrieval`

The names are imported on first use (PEP 562), so that ``sat --help``, which imports ``sat.dvsa.cli``, does not pay for
PyTorch.
"""
from __future__ import annotations

from .._lazy import lazy_exports

_HOMES = {
    "snippets": "alignment", "viterbi": "alignment",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "cli_evaluate_retrieval": "cli", "cli_train_alignment": "cli", "evaluate_checkpoint_retrieval": "cli",
    "register_cli": "cli",
    "AlignmentConfig": "config", "ranking_loss": "loss", "AlignmentModel": "model",
    "KEYS": "retrieval", "PUBLISHED_RETRIEVAL": "retrieval", "retrieval_metrics": "retrieval",
    "retrieval_intervals": "retrieval",
    "score_matrix": "score", "BRNN": "sentence",
    "train_alignment": "train",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
