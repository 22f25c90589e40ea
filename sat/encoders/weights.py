"""Where an encoder's pretrained weights come from: torchvision's download, or a local ``state_dict`` file.

Every failure is one sentence: ``DownloadError`` when offline, ``DataError`` naming the file when it is missing or is
not the right network's ``state_dict``.
"""
from __future__ import annotations

import http.client
from pathlib import Path

import torch
import torchvision
from torch import nn

from ..data.download import DownloadError
from ..data.errors import DataError

IMAGENET_WEIGHTS = {  # torchvision's ImageNet weights for each encoder name
    "vgg19": "VGG19_Weights.IMAGENET1K_V1",
    "resnet101": "ResNet101_Weights.IMAGENET1K_V2",
}


def download_imagenet_state(name: str) -> tuple[dict[str, torch.Tensor], str]:
    """torchvision's ImageNet ``state_dict`` for ``name`` (cached in ``$TORCH_HOME``) and the URL it came from."""
    enum_name, member = IMAGENET_WEIGHTS[name].split(".")
    weights = getattr(getattr(torchvision.models, enum_name), member)
    try:
        return weights.get_state_dict(progress=False), weights.url
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts and DNS failures are all OSError
        raise DownloadError(f"could not download the ImageNet weights of {name} from {weights.url} ({err}); fetch that "
                            "file by hand and pass its path as weights=PATH") from None


def read_state_dict(path: str | Path, name: str) -> dict[str, torch.Tensor]:
    """The ``state_dict`` saved (``torch.save``) in the file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, f"{name} weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — any unreadable file is the same user error
        raise DataError(path, f"not a readable torch state_dict ({type(err).__name__})") from None
    if not isinstance(state, dict):
        raise DataError(path, f"holds a {type(state).__name__}, not a state_dict")
    return state


def load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path, name: str) -> nn.Module:
    """Copy the entries of ``state`` that ``module`` needs (extra ones, e.g. a classifier's, are ignored) into it,
    replacing ``meta`` tensors; a missing or misshapen entry is a ``DataError`` naming ``source``."""
    expected = module.state_dict()
    if not any(key in state for key in expected):  # perhaps saved from the ``Encoder`` wrapper around it
        state = {key.removeprefix("trunk."): value for key, value in state.items()}
    missing = [key for key in expected if key not in state]
    misshapen = [key for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or misshapen:
        raise DataError(source, f"not a {name} state_dict ({len(missing)} entries missing, {len(misshapen)} of the "
                                f"wrong shape, e.g. {(missing or misshapen)[0]!r})")
    module.load_state_dict({key: state[key].to(expected[key].dtype) for key in expected}, assign=True)
    return module
