"""Scoring a whole split: every image against every sentence (1000 × 5000 on Flickr8k test), then the metrics."""
from __future__ import annotations

import torch

from .data import PairSet, pad_sentences
from .model import AlignmentModel
from .retrieval import retrieval_metrics


@torch.no_grad()
def similarity_matrix(model: AlignmentModel, pairs: PairSet, sentence_batch: int = 250,
                      image_chunk: int = 50) -> torch.Tensor:
    """``S`` (N_img, N_sent) of Eq. 8 (or 7) for every image and every caption of ``pairs``.

    Sentences are encoded in batches of similar length (little padding); images ``image_chunk`` at a time; the model's
    device does the work and the matrix comes back on the CPU.
    """
    model.eval()
    device = next(model.parameters()).device
    v = torch.cat([model.embed_images(pairs.features[i:i + 200].to(device).float())
                   for i in range(0, len(pairs.features), 200)])  # (N_img, R, h)
    order = sorted(range(len(pairs)), key=lambda j: len(pairs.sentences[j]))
    sim = torch.empty(v.shape[0], len(pairs))  # (N_img, N_sent)
    for start in range(0, len(order), sentence_batch):
        ids = order[start:start + sentence_batch]
        tokens, lengths = pad_sentences([pairs.sentences[j] for j in ids])  # (b, T), (b,)
        tokens, lengths = tokens.to(device), lengths.to(device)
        s = model.embed_sentences(tokens, lengths)  # (b, T, h)
        sim[:, ids] = model.score(v, s, lengths, chunk=image_chunk).cpu()  # (N_img, b)
    return sim


def evaluate_retrieval(model: AlignmentModel, pairs: PairSet) -> dict[str, float]:
    """Image annotation and image search metrics (:data:`sat.dvsa.retrieval.KEYS`) on ``pairs``."""
    return retrieval_metrics(similarity_matrix(model, pairs), pairs.sentence_image)
