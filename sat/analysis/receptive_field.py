"""What one annotation vector a_i "sees": the theoretical and the effective receptive field of a grid cell.

**Theoretical** receptive field: the input pixels that can influence a cell at all. Walking the convolutions and
poolings in the order they run, with kernel k, stride s, dilation d and left padding p, the field size r, the jump j
(input pixels between two neighbouring cells) and the centre of the first cell ``start`` follow::

    r ← r + (k − 1)·d·j        start ← start + ((k − 1)·d/2 − p)·j        j ← j·s        (r = 1, j = 1, start = 0)

Cell u (0-based, along one axis) is centred on input pixel ``start + u·j`` and sees ``r`` pixels around it (clipped by
the image). Skip connections add nothing (the main path already covers them); parallel projections such as ResNet's
``downsample`` are skipped so that their stride is not counted twice.

**Effective** receptive field (Luo et al., 2016): how much each pixel actually matters, |∂(Σ_d a_{i,d}) / ∂x|,
summed over colour channels. It is concentrated near the centre and much smaller than the theoretical one.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class LayerGeometry:
    """One spatial layer, as it ran: kernel, stride, dilation and padding before the first input pixel."""

    name: str
    kernel: int
    stride: int
    dilation: int
    padding: int


@dataclass(frozen=True)
class ReceptiveField:
    """Theoretical receptive field of the output cells: ``size`` pixels, cells ``jump`` pixels apart, the first one
    centred on input pixel ``start`` (pixel centres at integer coordinates), after ``layers`` spatial layers."""

    size: int
    jump: int
    start: float
    layers: int

    def center(self, index: int) -> float:
        """Input coordinate (along one axis) of the centre of output cell ``index``."""
        return self.start + index * self.jump

    def box(self, row: int, column: int, image_size: int | None = None) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1), inclusive pixel coordinates of what cell (row, column) sees; clipped to the image when
        ``image_size`` is given."""
        half = (self.size - 1) / 2
        x0, x1 = self.center(column) - half, self.center(column) + half
        y0, y1 = self.center(row) - half, self.center(row) + half
        if image_size is not None:
            x0, y0 = max(x0, 0.0), max(y0, 0.0)
            x1, y1 = min(x1, image_size - 1.0), min(y1, image_size - 1.0)
        return x0, y0, x1, y1


def _pair(value) -> int:
    """The first entry of a square kernel/stride/padding; non-square ones are not supported."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(set(values)) != 1:
        raise ValueError(f"non-square geometry {values} is not supported")
    return int(values[0])


def _geometry(name: str, module: nn.Module) -> LayerGeometry | None:
    if isinstance(module, nn.Conv2d):
        kernel, stride, dilation = _pair(module.kernel_size), _pair(module.stride), _pair(module.dilation)
        if isinstance(module.padding, str):  # "same" (stride 1) or "valid"
            padding = (kernel - 1) * dilation // 2 if module.padding == "same" else 0
        else:
            padding = _pair(module.padding)
        extra = getattr(module, "static_padding", None)  # TensorFlow "SAME" padding (EfficientNet): (l, r, t, b)
        if isinstance(extra, nn.ZeroPad2d):
            padding += int(extra.padding[0])
        return LayerGeometry(name, kernel, stride, dilation, padding)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        dilation = _pair(getattr(module, "dilation", 1))
        return LayerGeometry(name, kernel, stride, dilation, _pair(module.padding))
    return None


def spatial_layers(module: nn.Module, image_size: int, skip: Sequence[str] = ("downsample",)) -> list[LayerGeometry]:
    """The convolutions and poolings of ``module`` in the order they run on a square ``image_size`` input.

    The forward pass runs on a copy of ``module`` on PyTorch's ``meta`` device: shapes only, no arithmetic, and no
    real weights needed. Modules whose qualified name contains one of ``skip`` (parallel shortcut projections) are
    left out.
    """
    meta = module if _on_meta(module) else copy.deepcopy(module).to("meta")
    layers: list[LayerGeometry] = []
    handles = []
    for name, child in meta.named_modules():
        if any(part in name.split(".") for part in skip):
            continue
        if _geometry(name, child) is not None:
            handles.append(child.register_forward_hook(
                lambda mod, _inputs, _output, name=name: layers.append(_geometry(name, mod))))
    try:
        with torch.no_grad():
            meta(torch.zeros(1, 3, image_size, image_size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return layers


def _on_meta(module: nn.Module) -> bool:
    tensors = [*module.parameters(), *module.buffers()]
    return bool(tensors) and all(t.device.type == "meta" for t in tensors)


def theoretical_receptive_field(module: nn.Module, image_size: int = 224,
                                skip: Sequence[str] = ("downsample",)) -> ReceptiveField:
    """Compose the layers of :func:`spatial_layers` into the receptive field of the output cells."""
    size, jump, start = 1, 1, 0.0
    layers = spatial_layers(module, image_size, skip)
    for layer in layers:
        start += ((layer.kernel - 1) * layer.dilation / 2 - layer.padding) * jump
        size += (layer.kernel - 1) * layer.dilation * jump
        jump *= layer.stride
    return ReceptiveField(size=size, jump=jump, start=start, layers=len(layers))


def effective_receptive_field(encoder: nn.Module, images: torch.Tensor, row: int, column: int,
                              grid: tuple[int, int] | None = None) -> np.ndarray:
    """|∂(Σ_d a_{i,d}) / ∂x| summed over colour channels and over the batch, for the cell i = (row, column).

    ``encoder`` maps images (B, 3, H, W) to annotations (B, L, D) on a row-major ``grid`` (square by default).
    Returns an (H, W) float64 array.
    """
    images = images.detach().clone().requires_grad_(True)  # (B, 3, H, W)
    annotations = encoder(images)  # (B, L, D)
    if grid is None:
        side = int(round(annotations.size(1) ** 0.5))
        grid = (side, side)
    cell = row * grid[1] + column
    # ∂(Σ_d a_{i,d})/∂x as a vector-Jacobian product, seeded on the (B, D, L) view of the annotations: that is the
    # memory layout of the encoder's feature map, so the gradient reaching it is contiguous. Seeding the (B, L, D)
    # view instead hands BatchNorm's backward a gradient with an odd batch stride when B = 1, and PyTorch 2.x on CPU
    # then returns wrong input gradients (tests/test_analysis_receptive_field.py checks against finite differences).
    maps = annotations.transpose(1, 2)  # (B, D, L)
    seed = torch.zeros(maps.shape, dtype=maps.dtype)  # contiguous
    seed[:, :, cell] = 1.0
    (gradient,) = torch.autograd.grad(maps, images, seed)
    return gradient.abs().sum(dim=(0, 1)).double().numpy()  # (H, W)


def mass_within(saliency: np.ndarray, center: tuple[float, float], fraction: float) -> int:
    """Side (pixels, odd) of the smallest square centred on ``center`` (row, column) that holds ``fraction`` of the
    total of ``saliency`` (H, W)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    height, width = saliency.shape
    rows, columns = np.arange(height)[:, None], np.arange(width)[None, :]
    # Chebyshev distance of every pixel from the centre: a square of half-side h holds the pixels at distance <= h
    distance = np.maximum(np.abs(rows - center[0]), np.abs(columns - center[1]))
    half_sides = np.ceil(distance).astype(int)
    mass = np.bincount(half_sides.ravel(), weights=saliency.ravel())
    cumulative = np.cumsum(mass) / mass.sum()
    half = int(np.searchsorted(cumulative, fraction - 1e-12))
    return 2 * half + 1
