"""Weight averaging: an exponential moving average (EMA) of the weights along the training trajectory.

After every optimizer step ``θ̄ ← d·θ̄ + (1 − d)·θ`` (the first step copies θ). With a constant learning rate the
weights keep jittering around a minimum (more so with hard attention's REINFORCE noise); their average sits nearer its
centre, so validation, ``best.pt`` and the exported model use θ̄ when ``train.ema_decay`` > 0. The paper does not
average (it is the optimiser's business, not the model's); ``1 / (1 − d)`` steps is the averaging horizon.
"""
from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def weight_average(model: torch.nn.Module, decay: float) -> AveragedModel | None:
    """An :class:`AveragedModel` that keeps the EMA (decay ``decay``) of ``model``'s weights and float buffers; None
    for ``decay`` 0 (no averaging). Call ``.update_parameters(model)`` after every optimizer step."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def averaged_state(average: AveragedModel) -> dict[str, torch.Tensor]:
    """The averaged weights as a state dict of the plain model (CPU tensors)."""
    return {key: value.detach().cpu() for key, value in average.module.state_dict().items()}


def load_averaged_state(average: AveragedModel, weights: dict[str, torch.Tensor], updates: int) -> None:
    """Restore what :func:`averaged_state` returned, with the number of updates (0 makes the next update copy)."""
    average.module.load_state_dict(weights)
    average.n_averaged.fill_(updates)
