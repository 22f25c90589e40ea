"""Encoders: annotation shapes, freezing (weights and BatchNorm statistics), fine-tuning, and offline weights.

VGG-19 and ResNet-101 are tested with fake weight files holding random values, written here; nothing is downloaded.
"""
from __future__ import annotations

import urllib.error

import pytest
import torch

from sat.data.download import DownloadError
from sat.data.errors import DataError
from sat.encoders import build_encoder
from sat.encoders.torchvision_trunks import ResNet101Layer4, VGG19Conv54

torch.set_num_threads(1)


def fake_weights(trunk_class, path):
    """A state_dict file with the trunk's names and shapes and small random values, in float16 to keep it small."""
    state = {}
    for key, value in trunk_class().state_dict().items():  # built on the meta device: only names and shapes
        if not value.is_floating_point():
            state[key] = torch.zeros(value.shape, dtype=value.dtype)  # BatchNorm's num_batches_tracked
        elif key.endswith("running_var"):
            state[key] = torch.ones(value.shape, dtype=torch.float16)
        else:
            state[key] = (0.02 * torch.randn(value.shape)).half()
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    return {"vgg19": fake_weights(VGG19Conv54, folder / "vgg19.pth"),
            "resnet101": fake_weights(ResNet101Layer4, folder / "resnet101.pth")}


@pytest.mark.parametrize("name, size, dim, grid_224", [
    ("efficientnet-lite0", 64, 1280, (7, 7)),
    ("efficientnet-lite0-os16", 64, 1280, (14, 14)),
    ("vgg19", 64, 512, (14, 14)),
    ("resnet101", 64, 2048, (7, 7)),
    ("small-cnn", 64, 128, (28, 28)),
])
def test_annotation_shapes(name, size, dim, grid_224, weight_files):
    encoder = build_encoder(name, image_size=size, weights=weight_files.get(name))
    assert encoder.name == name and encoder.feature_dim == dim and encoder.grid(224) == grid_224
    with torch.no_grad():
        annotations = encoder(torch.randn(2, 3, size, size))
    rows, columns = encoder.grid(size)
    assert annotations.shape == (2, rows * columns, dim)
    assert torch.isfinite(annotations).all()


@pytest.mark.parametrize("name", ["efficientnet-lite0", "resnet101"])
def test_frozen_encoder_keeps_its_batchnorm_statistics(name, weight_files):
    encoder = build_encoder(name, weights=weight_files.get(name))
    assert not any(p.requires_grad for p in encoder.parameters())
    parent = torch.nn.Sequential(encoder).train()  # e.g. a captioner switched to training mode
    assert parent.training and not encoder.trunk.training
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    encoder(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


@pytest.mark.parametrize("size", [224, 96])
def test_output_stride_16_keeps_the_stride_32_grid_at_its_odd_locations(size):
    """Dilation instead of the last stride: the 7×7 annotations reappear exactly inside the 14×14 grid."""
    coarse_encoder, dense_encoder = build_encoder("efficientnet-lite0"), build_encoder("efficientnet-lite0-os16")
    images = torch.randn(2, 3, size, size)
    with torch.no_grad():
        coarse = coarse_encoder(images).unflatten(1, coarse_encoder.grid(size))  # (2, size/32, size/32, 1280)
        dense = dense_encoder(images).unflatten(1, dense_encoder.grid(size))  # (2, size/16, size/16, 1280)
    assert dense.shape[1:3] == (size // 16, size // 16)
    torch.testing.assert_close(dense[:, 1::2, 1::2], coarse, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(dense[:, 0::2, 0::2], coarse, atol=1e-2)  # the in-between locations are new
    from sat.encoders.efficientnet import EfficientNetLite0Encoder

    with pytest.raises(ValueError, match="output stride 32 or 16, not 8"):
        EfficientNetLite0Encoder(pretrained=False, output_stride=8)


def test_finetune_blocks_unfreezes_only_the_last_blocks(weight_files):
    encoder = build_encoder("resnet101", weights=weight_files["resnet101"], finetune_blocks=1)
    trainable = {name.split(".")[1] for name, p in encoder.named_parameters() if p.requires_grad}
    assert trainable == {"layer4"}
    efficientnet = build_encoder("efficientnet-lite0", finetune_blocks=2)
    trainable = {name for name, p in efficientnet.named_parameters() if p.requires_grad}
    assert trainable and all("_blocks.15." in n or "_conv_head" in n or "_bn1" in n for n in trainable)
    with pytest.raises(ValueError, match="finetune_blocks"):
        build_encoder("small-cnn", weights=None, finetune_blocks=9)


def test_small_cnn_trains_from_scratch():
    encoder = build_encoder("small-cnn", image_size=64)
    assert all(p.requires_grad for p in encoder.parameters())
    encoder(torch.randn(1, 3, 64, 64)).sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


def test_offline_download_fails_in_one_sentence(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline, raising=False)
    for name in ("vgg19", "resnet101"):
        with pytest.raises(DownloadError) as caught:
            build_encoder(name)
        message = str(caught.value)
        assert "\n" not in message and "weights=PATH" in message and name in message


def test_bad_weight_files_are_data_errors(tmp_path, weight_files):
    with pytest.raises(DataError, match="not found"):
        build_encoder("vgg19", weights=tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(DataError, match="readable"):
        build_encoder("vgg19", weights=tmp_path / "junk.pth")
    with pytest.raises(DataError, match="not a resnet101 state_dict"):
        build_encoder("resnet101", weights=weight_files["vgg19"])
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("alexnet")
