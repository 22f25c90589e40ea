"""Several processes, one model: DistributedDataParallel set up from the environment ``torchrun`` provides.

``torchrun --nproc_per_node=N -m sat train --config …`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
address; :func:`setup` then joins the process group (NCCL on CUDA, gloo on the CPU). Every rank trains on its own shard
of the length-bucketed batches (``LengthBucketSampler(rank=, world_size=)``) and DDP averages the gradients; only rank 0
writes logs and checkpoints and runs validation, whose result it broadcasts so that all ranks stop together.
Without those variables everything here is a no-op for a single process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..models.base import CaptionModel, LossOutput


@dataclass
class DistInfo:
    """Where this process stands: its rank among ``world_size`` processes and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``"auto"``: CUDA (this process's local GPU) when available, else the CPU."""
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda was asked for, but CUDA is not available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(device_preference: str = "auto", timeout_minutes: float = 60.0) -> DistInfo:
    """Join the process group described by the environment (``torchrun``), or describe a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size,
                                timeout=timedelta(minutes=timeout_minutes))
    return DistInfo(rank, world_size, local_rank, device)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The element-wise sum of ``values`` over all ranks (a copy; the input itself on one process)."""
    if not info.distributed:
        return values
    values = values.to(info.device, copy=True)  # NCCL reduces CUDA tensors only
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def broadcast_object(value: Any, info: DistInfo) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not info.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not info.distributed:
        return [value]
    values: list[Any] = [None] * info.world_size
    dist.all_gather_object(values, value)
    return values


class LossModule(nn.Module):
    """Routes ``CaptionModel.loss`` through ``forward`` so that DDP sees the call and synchronises the gradients."""

    def __init__(self, model: CaptionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor) -> LossOutput:
        return self.model.loss(features, captions, lengths)


def wrap(model: CaptionModel, info: DistInfo) -> nn.Module:
    """A module whose ``forward(features, captions, lengths)`` is the model's loss, wrapped in DDP across ranks.

    DDP copies rank 0's parameters and buffers to every rank here, and rank 0's buffers (the hard-attention baseline)
    again before every forward pass.
    """
    module = LossModule(model)
    if not info.distributed:
        return module
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)
