"""Weight averaging: an exponential moving average (EMA) of the weights along the training trajectory.

With a constant learning rate the weights keep jittering around a minimum (more so with hard attention's REINFORCE
noise); their average sits nearer its centre. With ``train.ema_decay`` d > 0 validation, ``best.pt`` and the exported
model use, after n optimizer steps with weights θ_1 … θ_n,

    θ̄_n = Σ_k d^(n−k) θ_k / Σ_k d^(n−k),

the moving average with Adam's bias correction: no weight is given to the random initialisation (a plain EMA that
starts from θ_0 still holds d^n of it: 61 % after one Flickr8k epoch of 489 steps at d = 0.999). Incrementally,
θ̄_n = θ̄_(n−1) + w_n (θ_n − θ̄_(n−1)) with w_n = (1 − d) / (1 − d^n): w_1 = 1 copies θ_1, early steps are averaged
almost equally, and w_n → 1 − d, an averaging horizon of about 1 / (1 − d) steps. The paper does not average.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.optim.swa_utils import AveragedModel


def debiased_ema(decay: float) -> Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor], torch.Tensor], None]:
    """The ``multi_avg_fn`` of :class:`AveragedModel` for θ̄_n above; it is called with n − 1 = ``n_averaged`` ≥ 1."""

    @torch.no_grad()
    def update(averages: Sequence[torch.Tensor], currents: Sequence[torch.Tensor], n_averaged: torch.Tensor) -> None:
        weight = (1.0 - decay) / (1.0 - decay ** (int(n_averaged) + 1))  # w_n
        for average, current in zip(averages, currents, strict=True):
            if average.is_floating_point():
                average.lerp_(current, weight)
            else:  # integer buffers (none in sat's models) follow the model
                average.copy_(current)

    return update


def weight_average(model: torch.nn.Module, decay: float) -> AveragedModel | None:
    """An :class:`AveragedModel` that keeps θ̄ (decay ``decay``) of ``model``'s weights and float buffers; None for
    ``decay`` 0 (no averaging). Call ``.update_parameters(model)`` after every optimizer step."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=debiased_ema(decay), use_buffers=True)


def averaged_state(average: AveragedModel) -> dict[str, torch.Tensor]:
    """The averaged weights as a state dict of the plain model (CPU tensors)."""
    return {key: value.detach().cpu() for key, value in average.module.state_dict().items()}


def load_averaged_state(average: AveragedModel, weights: dict[str, torch.Tensor], updates: int) -> None:
    """Restore what :func:`averaged_state` returned, with the number of updates (0 makes the next update copy)."""
    average.module.load_state_dict(weights)
    average.n_averaged.fill_(updates)
