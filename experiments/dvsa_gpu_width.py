#!/usr/bin/env python
"""The alignment model at the paper's width on a GPU: e18's settings (configs/dvsa_flickr8k.yaml without the weight
average, which came later) with h = 384, 1024 and 1536, several runs sharing one GPU, each stopped after a few minutes
(chapter 10).

On the CPU, h = 1024 costs over 4.5 CPU minutes per epoch (dev run e2), so the committed model stays at h = 384; on a
GPU the paper's widths (h = 1000–1600) take seconds per epoch. Three steps:

1. ``pool`` (where the Flickr8k feature caches are, any machine): the whole-image vectors of the train and dev images,
   both views, as a small feature cache of one cell per image, and the per-channel statistics of the train cells.
   With ``region_grid: 0`` the model sees only the mean of its standardised cells, which is the standardised mean
   when the statistics are those of the cells, so these runs get the same inputs as the CPU runs from a 36 MB cache
   instead of 2 GB (what fits the GPU machine this project borrows).
2. ``run NAME KEY=VALUE ...`` (on the GPU machine): one training run, written to RUNS/NAME.jsonl and RUNS/NAME.pt.
   ``all`` starts the six runs of chapter 10 at once and waits for them.
3. ``summarize LOG...``: the runs' curves as the ``gpu_runs`` entry of results/flickr8k/dvsa/dev_experiments.json.

Run: ``python experiments/dvsa_gpu_width.py pool --out .devrun`` here, then on the GPU machine
``python experiments/dvsa_gpu_width.py all --pooled .devrun --runs /tmp/runs``, then
``python experiments/dvsa_gpu_width.py summarize /tmp/runs/*.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs/dvsa_flickr8k.yaml"
RESULTS = ROOT / "results/flickr8k/dvsa/dev_experiments.json"
MINUTES = 6.5  # each run's budget: six runs share the GPU, and the machine is lent for minutes
RUNS = {  # name: (overrides, what changes against e18, the committed settings of the time)
    "g384s0": ({}, "e18 on a GPU"),
    "g1024s0": ({"hidden_dim": 1024}, "e18 with h 1024, on a GPU"),
    "g1024s1": ({"hidden_dim": 1024, "seed": 1}, "e18 with h 1024 and seed 1, on a GPU"),
    "g1024s2": ({"hidden_dim": 1024, "seed": 2}, "e18 with h 1024 and seed 2, on a GPU"),
    "g1024lr1": ({"hidden_dim": 1024, "lr": 0.001}, "e18 with h 1024 and lr 1e-3, on a GPU"),
    "g1536s0": ({"hidden_dim": 1536}, "e18 with h 1536, on a GPU"),
}


def pool(out: Path) -> None:
    """Step 1: OUT/cache (whole-image vectors, both views), OUT/cell_stats.pt, OUT/data (the caption files and empty
    stand-ins for the images, which the dataset reader only checks for)."""
    from sat.data import load_dataset
    from sat.dvsa.regions import RegionEmbedding
    from sat.features import FeatureStore, cache_path

    dataset = load_dataset("flickr8k")
    train = dataset.split("train")
    names = [r.filename for r in train + dataset.split("val")]
    for hflip in (False, True):
        store = FeatureStore.open(cache_path("flickr8k", "efficientnet-lite0", 224, None, hflip))
        cells = store.load(store.rows(names))  # (N, 49, D) float16
        if not hflip:
            region = RegionEmbedding(store.feature_dim, 1)
            region.set_feature_stats(cells[: len(train)])  # exactly what training computes from the cells
            torch.save({"mean": region.feature_mean, "std": region.feature_std}, out / "cell_stats.pt")
        root = cache_path("flickr8k", "efficientnet-lite0", 224, out / "cache", hflip)
        root.mkdir(parents=True, exist_ok=True)
        np.save(root / "features.npy", cells.float().mean(dim=1, keepdim=True).half().numpy())  # (N, 1, D)
        np.save(root / "status.npy", np.ones(len(names), dtype=np.uint8))
        (root / "meta.json").write_text(json.dumps(dict(store.meta, filenames=names, grid=[1, 1])))
    source = Path(dataset.image_root).parent
    shutil.copytree(source / "Flickr8k_text", out / "data/flickr8k/Flickr8k_text", dirs_exist_ok=True)
    images = out / "data/flickr8k" / Path(dataset.image_root).name
    images.mkdir(parents=True, exist_ok=True)
    for record in dataset.images:
        (images / record.filename).touch()


def run(name: str, overrides: dict, pooled: Path, runs: Path, device: str = "cuda", minutes: float = MINUTES) -> None:
    """Step 2: one run (on CUDA unless ``device`` says otherwise) from the pooled cache, with the cells' statistics."""
    from sat.dvsa import AlignmentConfig, train_alignment
    from sat.dvsa.regions import RegionEmbedding
    from sat.training.trainer import NonFiniteLossError

    stats = torch.load(pooled / "cell_stats.pt")

    def cell_statistics(self, features, chunk=500):  # the pooled vectors' own spread is not the cells'
        self.feature_mean.copy_(stats["mean"])
        self.feature_std.copy_(stats["std"])

    RegionEmbedding.set_feature_stats = cell_statistics
    values = yaml.safe_load(CONFIG.read_text())
    values.update(device=device, max_minutes=minutes, ema_decay=0.0, **overrides)  # e18: no weight average
    values.update(data_dir=str(pooled / "data"), cache_dir=str(pooled / "cache"),
                  checkpoint=str(runs / f"{name}.pt"), log=str(runs / f"{name}.jsonl"))
    try:
        train_alignment(AlignmentConfig.from_dict(values), log=lambda message: print(f"[{name}] {message}", flush=True))
    except NonFiniteLossError as err:  # record the divergence in the log, for summarize
        log = runs / f"{name}.jsonl"
        epoch = len(log.read_text().splitlines()) + 1
        with log.open("a") as handle:
            handle.write(json.dumps({"epoch": epoch, "loss": float("nan"), "stopped": str(err)}) + "\n")
        raise


def summarize(logs: list[Path]) -> None:
    """Step 3: the ``gpu_runs`` entry of dev_experiments.json (a run that diverged keeps its epochs before the NaN)."""
    entries = []
    for path in sorted(logs, key=lambda p: list(RUNS).index(p.stem)):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        finite = [r for r in rows if math.isfinite(r["loss"])]
        best = max(finite, key=lambda r: r["dev_rsum"])
        entry = {"name": path.stem, "changes": RUNS[path.stem][1], "epochs_run": len(finite),
                 "best_epoch": best["epoch"], "best_rsum": best["dev_rsum"],
                 "best_dev": {k[4:]: v for k, v in best.items() if k.startswith("dev_") and k != "dev_rsum"},
                 "rsum_by_epoch": {str(r["epoch"]): r["dev_rsum"] for r in finite},
                 "minutes": finite[-1]["minutes"]}
        if len(finite) < len(rows):
            entry["diverged_at_epoch"] = rows[len(finite)]["epoch"]
        entries.append(entry)
    experiments = json.loads(RESULTS.read_text())
    experiments["gpu_runs"] = {
        "device": "one NVIDIA H200, shared by the six runs (one process each)",
        "note": f"e18's settings on a GPU, each run stopped after {MINUTES} minutes (60 epochs planned, the "
                "learning-rate decay as on the CPU); inputs: the whole-image vectors with the cells' statistics "
                "(experiments/dvsa_gpu_width.py)",
        "runs": entries}
    RESULTS.write_text(json.dumps(experiments, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote gpu_runs ({len(entries)} runs) to {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pool").add_argument("--out", type=Path, required=True)
    for name in ("run", "all"):
        command = commands.add_parser(name)
        if name == "run":
            command.add_argument("name", choices=sorted(RUNS))
        command.add_argument("--pooled", type=Path, required=True)
        command.add_argument("--runs", type=Path, required=True)
        command.add_argument("--device", default="cuda", help="cuda (default), or cpu to check the script")
        command.add_argument("--minutes", type=float, default=MINUTES, help="each run's budget")
    commands.add_parser("summarize").add_argument("logs", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "pool":
        pool(args.out)
    elif args.command == "run":
        args.runs.mkdir(parents=True, exist_ok=True)
        run(args.name, RUNS[args.name][0], args.pooled, args.runs, args.device, args.minutes)
    elif args.command == "all":
        args.runs.mkdir(parents=True, exist_ok=True)
        processes = [subprocess.Popen([sys.executable, __file__, "run", name, "--pooled", str(args.pooled),
                                       "--runs", str(args.runs), "--device", args.device,
                                       "--minutes", str(args.minutes)]) for name in RUNS]
        sys.exit(max(process.wait() for process in processes))
    else:
        summarize(args.logs)


if __name__ == "__main__":
    main()
