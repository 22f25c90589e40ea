"""Training throughput of the Show, Attend and Tell decoder on random data, in captions per second.

Flickr8k-sized setting: batch 64, L = 49 locations of D = 1280 (EfficientNet-Lite0 at 224 px; ``--locations 196`` for
the 14×14 grid of efficientnet-lite0-os16 at 224 px, or of EfficientNet-Lite0 at 448 px), LSTM 512, embedding and
attention 512, vocabulary 2500, captions of 11 words (+ <start>/<end>; one length bucket, as the paper trains).
Compares ``ShowAttendTell.loss`` (W_a a once per image, word and output projections outside the time loop) with a
naive loop that recomputes everything at every step, as most public ports do. With ``--processes N`` it measures
data-parallel training instead, as ``torchrun --nproc_per_node N -m sat train`` runs it: N processes of ``--threads``
threads each, one batch of 64 per process and step, gradients averaged over gloo by DistributedDataParallel; the
figure is the captions of all processes per second. Prints the figures; asserts nothing.

    python benchmarks/bench_train.py [--threads 2] [--batches 5] [--words 11] [--attention hard] [--bf16] [--locations 196]
    python benchmarks/bench_train.py --processes 2 --threads 1 [--bf16]
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from sat.models import ModelConfig, ShowAttendTell, build_model
from sat.models.attention import soft_context
from sat.models.show_attend_tell import lstm_update
from sat.training.distributed import DistInfo, wrap


def naive_loss(model: ShowAttendTell, features: torch.Tensor, captions: torch.Tensor,
               lengths: torch.Tensor) -> torch.Tensor:
    """The same model computed step by step: W_a a, the word projection and the vocabulary softmax inside the loop."""
    steps = int(lengths.max()) - 1
    hidden, cell = model.initial_state(features)
    total = features.new_zeros(())
    for t in range(steps):
        projected = model.attention.project_annotations(features)  # (B, L, A) again at every step
        alpha = model.attention(projected, hidden.unsqueeze(1)).exp()  # (B, 1, L)
        context = (torch.sigmoid(model.gate(hidden)) * soft_context(features, alpha).squeeze(1))  # (B, D)
        words = model.embedding(captions[:, t])  # (B, E)
        gates = model.word_to_gates(words) + model.context_to_gates(context) + model.hidden_to_gates(hidden)
        hidden, cell = lstm_update(gates, cell)
        logits = model.logits(words, hidden, context)  # (B, V) for every row, padding included
        nll = F.cross_entropy(logits, captions[:, t + 1], reduction="none")  # (B,)
        total = total + (nll * (t + 1 < lengths).float()).sum()
    return total / features.size(0)


def captions_per_second(loss_fn, model, features, captions, lengths, batches: int) -> tuple[float, float]:
    """Training steps (loss, backward, Adam) per wall-clock second and per CPU second, in captions."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    for i in range(batches + 1):  # the first batch warms up and is not timed
        if i == 1:
            wall, cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model, features, captions, lengths).backward()
        optimizer.step()
    done = batches * features.size(0)
    return done / (time.perf_counter() - wall), done / (time.process_time() - cpu)


def random_batch(args: argparse.Namespace) -> tuple[ShowAttendTell, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model (seed 0) and one Flickr8k-sized batch: features (B, L, D), captions (B, T), lengths (B,)."""
    torch.manual_seed(0)
    config = ModelConfig(attention=args.attention)
    model = build_model(config, args.vocab).train()
    B, T = args.batch_size, args.words + 2
    features = torch.randn(B, args.locations, config.feature_dim)
    captions = torch.randint(4, args.vocab, (B, T))
    captions[:, 0], captions[:, -1] = 1, 2
    lengths = torch.full((B,), T)
    return model, features, captions, lengths


def data_parallel_worker(rank: int, args: argparse.Namespace, port: int) -> None:
    """One of ``args.processes`` DDP ranks. The ranks step in lockstep (DDP's all-reduce), so the captions per second
    of all of them is the sum of each rank's rate; rank 0 prints it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", rank=rank, world_size=args.processes)
    model, features, captions, lengths = random_batch(args)
    ddp = wrap(model, DistInfo(rank=rank, world_size=args.processes))
    dist.barrier()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        per_s, per_cpu_s = captions_per_second(lambda m, *batch: ddp(*batch).loss, model, features, captions,
                                               lengths, args.batches)
    totals = torch.tensor([per_s, per_cpu_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])
    dist.all_reduce(totals)  # sums over ranks
    if rank == 0:
        print(f"DDP, {args.processes} processes × {args.threads} threads ({args.attention}"
              f"{', bf16' if args.bf16 else ''}): {float(totals[0]):7.1f} captions/s   "
              f"({float(totals[1]) / args.processes:6.1f} per CPU s and process); "
              f"peak resident memory {float(totals[2]):.0f} MiB over all processes")
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--words", type=int, default=11, help="words per caption (Flickr8k: 10.8 on average)")
    parser.add_argument("--vocab", type=int, default=2500)
    parser.add_argument("--attention", choices=("soft", "hard"), default="soft")
    parser.add_argument("--locations", type=int, default=49, help="annotation vectors per image (L): 49 = 7×7, 196 = 14×14")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (fast on CPUs with AVX512-BF16/AMX)")
    parser.add_argument("--processes", type=int, default=1, help="data-parallel processes (DDP over gloo)")
    args = parser.parse_args()
    config = ModelConfig(attention=args.attention)
    print(f"batch {args.batch_size}, L={args.locations}, D={config.feature_dim}, H={config.hidden_dim}, V={args.vocab}, "
          f"{args.words} words, {args.threads} threads; captions per second of wall-clock time (per CPU second: a "
          f"proxy on a busy machine)")
    if args.processes > 1:
        mp.spawn(data_parallel_worker, args=(args, free_port()), nprocs=args.processes)
        return
    torch.set_num_threads(args.threads)
    model, features, captions, lengths = random_batch(args)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        fast, fast_cpu = captions_per_second(lambda m, *batch: m.loss(*batch).loss, model, features, captions, lengths,
                                             args.batches)
    print(f"ShowAttendTell.loss ({args.attention}{', bf16' if args.bf16 else ''}): {fast:7.1f} captions/s   "
          f"({fast_cpu:6.1f} per CPU s)")
    if not args.skip_naive:
        naive, naive_cpu = captions_per_second(naive_loss, model, features, captions, lengths, args.batches)
        print(f"naive per-step loop:        {naive:7.1f} captions/s   ({naive_cpu:6.1f} per CPU s; "
              f"speed-up {fast / naive:.2f}× wall, {fast_cpu / naive_cpu:.2f}× CPU)")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
