"""Model selection by real decoding (§5): caption the first ``val_images`` val images with beam search (or greedy
search for beam 1) and score BLEU-1..4 against their references — never teacher-forced scores.

The scorer is coco-caption's BLEU on the pure-Python tokenisation (``fast=True``: no Java in the training loop).
"""
from __future__ import annotations

import time

import torch

from ..config import TrainConfig
from ..models.base import CaptionModel
from .data import TrainingData


def validate(model: CaptionModel, data: TrainingData, config: TrainConfig) -> dict[str, float]:
    """``Bleu_1``..``Bleu_4`` (fractions) of the decoded val subset, plus ``val_images`` and ``decode_s``."""
    from ..evaluation import decode_split, score_captions

    records = data.val_records[: config.val_images] if config.val_images else data.val_records
    if not records:
        raise ValueError("validation needs val images with features (the dataset's val split is empty)")
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        with torch.no_grad():
            candidates = decode_split(model, data.store, records, data.vocab, beam_size=config.val_beam,
                                      max_len=config.val_max_len, batch_size=config.val_batch_size)
    finally:
        model.train(was_training)
    decode_s = time.perf_counter() - start
    references = {record.key: record.captions for record in records}
    scores = score_captions(references, candidates, metrics=("Bleu",), fast=True)
    return {**scores, "val_images": len(records), "decode_s": round(decode_s, 3)}
