"""Beam search throughput, in images per second: all images in one batched search versus one image at a time.

Flickr8k-sized Show, Attend and Tell decoder (L = 49, D = 1280, LSTM 512, vocabulary 2500) with random weights. A
random model rarely emits ``<end>``, so every search runs its full ``max_len`` steps: a worst case. With
``--checkpoint`` the trained model decodes the cached features of the first test images instead (what
``sat evaluate`` does): its beams end after about 12 words. Prints images per second of wall-clock time and per CPU
second (a steadier proxy on a busy machine); asserts nothing.

    python benchmarks/bench_beam.py [--threads 2] [--images 64] [--beam 3] [--max-len 20] [--bf16]
    python benchmarks/bench_beam.py --checkpoint checkpoints/flickr8k/soft.pt [--bf16]   # needs `sat features`
"""
from __future__ import annotations

import argparse
import resource
import time

import torch

from sat.decoding import beam_search
from sat.models import CaptionModel, ModelConfig, build_model


def trained_model_and_test_features(checkpoint: str, images: int) -> tuple[CaptionModel, torch.Tensor]:
    """The checkpoint's model and the cached features (images, L, D) of the first ``images`` test images."""
    from sat.data import load_dataset
    from sat.features import FeatureStore, cache_path
    from sat.training.checkpoint import load_for_inference

    model, _, config = load_for_inference(checkpoint)
    dataset = load_dataset(config.data.dataset, config.data.data_dir)
    store = FeatureStore.open(cache_path(dataset.name, config.data.encoder, config.data.image_size,
                                         config.data.cache_dir))
    records = dataset.split("test")[:images]
    return model.float(), store.get([record.filename for record in records]).float()


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=64, help="images per batched search")
    parser.add_argument("--single", type=int, default=8, help="images decoded one at a time (0: skip)")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--vocab", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (fast on CPUs with AVX512-BF16/AMX)")
    parser.add_argument("--checkpoint", help="decode real cached test features with this trained model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        model, features = trained_model_and_test_features(args.checkpoint, args.images)
        source = f"{args.checkpoint} on {len(features)} cached test images"
    else:
        model = build_model(ModelConfig(), args.vocab).eval()
        features = torch.randn(args.images, 49, model.config.feature_dim)
        source = "random weights and features"
    print(f"beam {args.beam}, max_len {args.max_len}, L={features.size(1)}, D={model.config.feature_dim}, "
          f"H={model.config.hidden_dim}, V={model.vocab_size}, {args.threads} threads{', bf16' if args.bf16 else ''}; "
          f"{source}")
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        beam_search(model, features[:2], args.beam, args.max_len)  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.repeats):
            found = beam_search(model, features, args.beam, args.max_len)
        batched = args.repeats * args.images / (time.perf_counter() - start)
        batched_cpu = args.repeats * args.images / (time.process_time() - cpu)
        steps = max(len(h.tokens) + h.finished for h in found)
        print(f"batched, {args.images} images at once: {batched:7.1f} images/s   ({batched_cpu:6.1f} per CPU s; "
              f"{steps} steps; peak memory {peak_memory_mib():.0f} MiB)")
        if not args.single:
            return
        start, cpu = time.perf_counter(), time.process_time()
        for image in range(args.single):
            beam_search(model, features[image: image + 1], args.beam, args.max_len)
        single = args.single / (time.perf_counter() - start)
        single_cpu = args.single / (time.process_time() - cpu)
    print(f"one image at a time:             {single:7.1f} images/s   ({single_cpu:6.1f} per CPU s; batching is "
          f"{batched_cpu / single_cpu:.1f}× faster)")

if __name__ == "__main__":
    main()
