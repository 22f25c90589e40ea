"""DistributedDataParallel on the CPU: two processes with the gloo backend train in lockstep."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from sat.training.checkpoint import read_checkpoint
from _training_helpers import tiny_config, tiny_data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, out_dir: str, result_dir: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from sat.training import distributed
    from sat.training.trainer import Trainer

    trainer = Trainer(tiny_config(Path(out_dir), epochs=1, max_steps=4, checkpoint_every=2), data=tiny_data())
    initial = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    trainer.train()
    final = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    torch.save({"initial": initial, "final": final, "step": trainer.step,
                "batches": [list(b) for b in trainer.sampler][:4]}, Path(result_dir) / f"rank{rank}.pt")
    distributed.cleanup()


@pytest.mark.timeout(120)
def test_two_gloo_processes_agree(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "runs"), str(results)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(results / f"rank{r}.pt") for r in (0, 1))
    assert rank0["step"] == rank1["step"] == 4
    assert torch.equal(rank0["initial"], rank1["initial"])  # DDP broadcast rank 0's weights at the start
    assert torch.equal(rank0["final"], rank1["final"])  # and averaged the gradients: the ranks stayed identical
    assert not torch.equal(rank0["initial"], rank0["final"])
    assert all(set(a).isdisjoint(b) for a, b in zip(rank0["batches"], rank1["batches"]))  # each rank its own shard
    run = tmp_path / "runs" / "tiny"
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file()  # written by rank 0 only
    assert len(read_checkpoint(run / "last.pt")["rng"]) == 2  # both ranks' RNG states, for an exact resume
