"""What an encoder costs: parameters, multiply–accumulate operations and wall time per image — and, for the paper's
torchvision encoders whose ImageNet weights cannot be downloaded offline, an untrained copy with the same
architecture (same shapes, receptive field, parameter count and speed; meaningless features).
"""
from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..encoders import Encoder
from ..encoders.torchvision_trunks import ResNet101Layer4, VGG19Conv54

TRUNKS = {"vgg19": VGG19Conv54, "resnet101": ResNet101Layer4}


def untrained_encoder(name: str, seed: int = 0) -> Encoder:
    """``vgg19`` or ``resnet101`` with torchvision's random initialisation instead of ImageNet weights (no download)."""
    if name not in TRUNKS:
        raise ValueError(f"untrained_encoder knows {sorted(TRUNKS)}, not {name!r}")
    trunk = TRUNKS[name]()  # built on the meta device
    trunk.to_empty(device="cpu")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for module in trunk.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()  # also resets BatchNorm's running statistics
    finally:
        torch.random.set_rng_state(generator_state)
    return Encoder(name, trunk, trunk.blocks())


def count_parameters(module: nn.Module) -> int:
    """Number of scalars in the parameters of ``module`` (works on the meta device too)."""
    return sum(parameter.numel() for parameter in module.parameters())


def count_macs(module: nn.Module, image_size: int) -> int:
    """Multiply–accumulate operations of one forward pass on one ``image_size`` square image, counted by PyTorch's
    ``FlopCounterMode`` (convolutions and matrix products; 1 MAC = 2 FLOPs) on a ``meta`` copy: nothing is computed."""
    meta = copy.deepcopy(module).to("meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(torch.zeros(1, 3, image_size, image_size, device="meta"))
    return counter.get_total_flops() // 2


def seconds_per_image(module: nn.Module, image_size: int, batch_size: int = 1, repeats: int = 3,
                      seed: int = 0, warmup: bool = True) -> float:
    """Median wall time of a forward pass over ``batch_size`` random images, divided by ``batch_size`` (after one
    warm-up pass, unless ``warmup`` is False because the caller just ran the module). It depends on the machine, its
    load and ``torch.get_num_threads()``."""
    images = torch.randn(batch_size, 3, image_size, image_size, generator=torch.Generator().manual_seed(seed))
    times = []
    with torch.no_grad():
        if warmup:
            module(images)
        for _ in range(repeats):
            start = time.perf_counter()
            module(images)
            times.append(time.perf_counter() - start)
    return statistics.median(times) / batch_size
