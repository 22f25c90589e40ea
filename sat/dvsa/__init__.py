"""Karpathy & Fei-Fei, "Deep Visual-Semantic Alignments for Generating Image Descriptions" (CVPR 2015), §3.1:
the image–sentence alignment model, retrieval evaluation and snippet alignment.

* :class:`AlignmentModel` — regions (Eq. 1, grid cells + whole image), BRNN words (Eqs. 2–6), score Eq. 8 / Eq. 7
* :func:`ranking_loss` — Eq. 9 over a batch matrix
* :func:`retrieval_metrics` — R@1/5/10 and median rank, image annotation and image search
* :func:`viterbi` — the chain-MRF snippet alignment (Eqs. 10–12)
* :func:`train_alignment`, :class:`AlignmentConfig`, :func:`load_checkpoint`, :func:`evaluate_checkpoint_retrieval`
"""
from .alignment import snippets, viterbi
from .checkpoint import load_checkpoint, save_checkpoint
from .cli import cli_evaluate_retrieval, cli_train_alignment, evaluate_checkpoint_retrieval, register_cli
from .config import AlignmentConfig
from .loss import ranking_loss
from .model import AlignmentModel
from .retrieval import KEYS, retrieval_metrics
from .score import score_matrix
from .sentence import BRNN
from .train import train_alignment

__all__ = [
    "AlignmentConfig", "AlignmentModel", "BRNN", "KEYS", "cli_evaluate_retrieval", "cli_train_alignment",
    "evaluate_checkpoint_retrieval", "load_checkpoint", "ranking_loss", "register_cli", "retrieval_metrics",
    "save_checkpoint", "score_matrix", "snippets", "train_alignment", "viterbi",
]
