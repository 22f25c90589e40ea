"""Captioning an image from several views of it at once: the image and its mirror image (test-time augmentation).

Every view is decoded by the same model with its own state and attention, and the words are shared: at step t the
decoder reads the mean of the views' word distributions,

    p(y_t | y_<t) = 1/V Σ_v p(y_t | y_<t, a^(v)),

the mixture an ensemble of caption models uses, here over views of one image instead of over models. The paper decodes
the image alone; averaging with the mirror image is this project's deviation, chosen per model on the dev split.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ..models.base import CaptionModel


class ViewMean(CaptionModel):
    """``model`` over V views of every image: features (B, V, L, D) in, the mean word distribution out.

    Any decoder (beam search, greedy, sampling) runs it like a caption model. The attention it reports is the first
    view's, so with the image first and its mirror second the maps lie on the image as it is.
    """

    def __init__(self, model: CaptionModel):
        super().__init__()
        self.model = model
        self.vocab_size = model.vocab_size

    def init_state(self, features: torch.Tensor) -> list[Any]:
        if features.dim() != 4:
            raise ValueError(f"ViewMean expects features (B, V, L, D), got shape {tuple(features.shape)}")
        return [self.model.init_state(features[:, view]) for view in range(features.size(1))]  # V × state (B, ...)

    def step(self, tokens: torch.Tensor, state: list[Any]) -> tuple[torch.Tensor, list[Any], torch.Tensor | None]:
        steps = [self.model.step(tokens, view_state) for view_state in state]
        log_probs = torch.stack([log_probs for log_probs, _, _ in steps])  # (V, B, Vocab)
        mean = torch.logsumexp(log_probs, dim=0) - math.log(len(steps))  # (B, Vocab) log of the mean probability
        return mean, [view_state for _, view_state, _ in steps], steps[0][2]


def with_mirror(model: CaptionModel, features: torch.Tensor, mirrored: torch.Tensor
                ) -> tuple[ViewMean, torch.Tensor]:
    """The model and features that decode each image together with its mirror image: features and mirrored (B, L, D)
    (row i of ``mirrored`` encodes image i flipped left to right) → ``(ViewMean(model), (B, 2, L, D))``."""
    if features.shape != mirrored.shape:
        raise ValueError(f"the image and mirror features differ in shape: {tuple(features.shape)} and "
                         f"{tuple(mirrored.shape)}")
    return ViewMean(model), torch.stack([features, mirrored], dim=1)  # (B, 2, L, D)
