"""Beam search over many images whose annotation vectors are in the feature cache, one batch of images at a time.

Evaluation (``sat evaluate``), validation during training and the book's figures all decode this way, so one setting
gives the same captions everywhere.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..models.base import CaptionModel
from .beam_search import beam_search
from .core import Hypothesis
from .views import with_mirror


def decode_cached(model: CaptionModel, store: Any, filenames: Sequence[str], beam_size: int = 3, max_len: int = 20,
                  batch_size: int = 50, length_normalization: float = 0.0, bf16: bool = False,
                  mirror_store: Any = None) -> list[Hypothesis]:
    """Beam-search every image of ``filenames`` from ``store`` (a ``FeatureStore``) → one ``Hypothesis`` each, in order.

    ``beam_size=1`` is greedy search; each hypothesis keeps its attention maps (n_words, L). The model is used as given
    (call ``model.eval()`` first). ``bf16`` autocasts the CPU's matrix products to bfloat16: about twice as fast on
    CPUs with AVX512-BF16 or AMX, and a few captions change. ``mirror_store``, the cache of the mirrored images,
    decodes each image together with its mirror image (:mod:`sat.decoding.views`); the maps are then the image's own.
    """
    device = next(model.parameters()).device
    hypotheses: list[Hypothesis] = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and device.type == "cpu"):
        for start in range(0, len(filenames), batch_size):
            names = list(filenames[start:start + batch_size])
            features, decoder = store.get(names).to(device), model  # (B, L, D)
            if mirror_store is not None:
                decoder, features = with_mirror(model, features, mirror_store.get(names).to(device))  # (B, 2, L, D)
            hypotheses.extend(beam_search(decoder, features, beam_size=beam_size, max_len=max_len,
                                          length_normalization=length_normalization))
    return hypotheses
