"""The CUDA code paths, on a machine with a GPU (skipped elsewhere): mixed-precision training and its exact resumption,
checkpoints that move between devices, decoding, feature extraction and the alignment model.

Each test compares the GPU with the CPU or with itself; none needs data or weights from the network.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _model_helpers import decoding_model
from _training_helpers import run_until_killed, step_losses, tiny_config, tiny_data
from sat.decoding import beam_search
from sat.training import train
from sat.training.checkpoint import load_for_inference, read_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def test_mixed_precision_training_learns_and_its_checkpoint_loads_on_the_cpu(tmp_path: Path, data) -> None:
    run = train(tiny_config(tmp_path, device="cuda", amp=True, epochs=4), data=data)
    losses = list(step_losses(run).values())
    quarter = len(losses) // 4  # steps per epoch
    assert np.isfinite(losses).all() and np.mean(losses[-quarter:]) < np.mean(losses[:quarter])  # it learns
    last = read_checkpoint(run / "last.pt")
    assert last["scaler"] is not None and last["scaler"]["scale"] > 0  # the gradient scaler is saved for --resume
    assert all(value.device.type == "cpu" for value in last["model"].values())
    model, vocab, _ = load_for_inference(run / "best_fp16.pt")  # a GPU run's model captions on a CPU-only machine
    features = data.store.get([r.filename for r in data.val_records][:2]).float()  # (2, L, D)
    hypotheses = beam_search(model.eval(), features, beam_size=2, max_len=8)
    assert len(hypotheses) == 2 and all(h.tokens for h in hypotheses)


def test_float32_training_on_the_gpu_matches_the_cpu(tmp_path: Path, data) -> None:
    def losses(device: str) -> dict[int, float]:
        config = tiny_config(tmp_path / device, device=device, amp=False, epochs=1)
        config.model.dropout = 0.0  # dropout masks come from different generators on the two devices
        return step_losses(train(config, data=data))

    cpu, gpu = losses("cpu"), losses("cuda")
    assert cpu.keys() == gpu.keys()
    assert all(gpu[step] == pytest.approx(cpu[step], rel=1e-3) for step in cpu)


@pytest.mark.parametrize("amp", [False, True])
def test_resume_on_the_gpu_after_a_kill_mid_epoch(tmp_path: Path, data, amp: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def config(folder: str):
        return tiny_config(tmp_path / folder, device="cuda", amp=amp, epochs=2, checkpoint_every=3, ema_decay=0.8)

    reference = step_losses(train(config("uninterrupted"), data=data))
    run_until_killed(config("killed"), data, monkeypatch, after_step=7)
    resumed = step_losses(train(config("killed"), resume=True, data=data))
    assert resumed.keys() == reference.keys()
    # CUDA's atomic additions make the last bits run-dependent; the RNG states and the scaler must carry over exactly
    assert all(resumed[step] == pytest.approx(reference[step], rel=1e-4) for step in reference)


@pytest.mark.parametrize("name", ["sat-soft", "sat-hard", "nic", "mrnn"])
def test_beam_search_on_the_gpu_finds_the_cpu_captions(name: str) -> None:
    model = decoding_model(name)
    features = torch.randn(6, 5, 6)  # (B, L, D)
    on_cpu = beam_search(model, features, beam_size=3, max_len=10)
    on_gpu = beam_search(model.cuda(), features.cuda(), beam_size=3, max_len=10)
    assert [h.tokens for h in on_gpu] == [h.tokens for h in on_cpu]
    assert [h.log_prob for h in on_gpu] == pytest.approx([h.log_prob for h in on_cpu], abs=1e-3)
    if name.startswith("sat"):  # attention maps come back on the CPU, ready for the figures
        for gpu, cpu in zip(on_gpu, on_cpu):
            assert gpu.attention.device.type == "cpu"
            torch.testing.assert_close(gpu.attention, cpu.attention, rtol=1e-3, atol=1e-4)


def test_feature_extraction_on_the_gpu_matches_the_cpu(tmp_path: Path) -> None:
    from sat.data.shapes import load_shapes
    from sat.encoders.small_cnn import SmallCNN
    from sat.features import extract_features

    dataset = load_shapes(tmp_path / "shapes", n_images=20)
    torch.manual_seed(0)
    encoder = SmallCNN()
    on_cpu = extract_features(dataset, "small-cnn", 64, tmp_path / "cpu", encoder=encoder, progress=False)
    on_gpu = extract_features(dataset, "small-cnn", 64, tmp_path / "gpu", encoder=encoder, progress=False,
                              device="cuda")
    assert on_gpu.array.shape == on_cpu.array.shape
    np.testing.assert_allclose(on_gpu.array.astype(np.float32), on_cpu.array.astype(np.float32), rtol=2e-2, atol=2e-2)


def test_alignment_model_trains_on_the_gpu_and_scores_like_the_cpu(tmp_path: Path) -> None:
    from test_dvsa_train import tiny_dataset

    from sat.dvsa import AlignmentConfig, load_checkpoint, train_alignment
    from sat.dvsa.data import make_pairs
    from sat.dvsa.evaluate import similarity_matrix

    dataset, store = tiny_dataset()
    config = AlignmentConfig(word_dim=8, hidden_dim=16, min_count=1, epochs=3, batch_size=8, lr=0.01, device="cuda",
                             checkpoint="ckpt/dvsa.pt", log="log/train_log.jsonl")
    model, history = train_alignment(config, dataset, store, log=None, repo_root=tmp_path)
    assert next(model.parameters()).device.type == "cuda" and len(history) == 3
    loaded, vocab, _, _ = load_checkpoint(tmp_path / "ckpt/dvsa.pt")  # float16 weights, on the CPU
    pairs = make_pairs(dataset.split("val"), store, vocab)
    on_cpu = similarity_matrix(loaded, pairs)  # (N_img, N_sent)
    on_gpu = similarity_matrix(loaded.cuda(), pairs)
    assert on_gpu.device.type == "cpu"
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-4, atol=1e-4)


def test_caption_and_evaluate_on_the_gpu_give_the_cpu_captions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from _caption_helpers import awkward_images, tiny_checkpoint
    from _data_helpers import make_flickr8k
    from sat.caption import caption_images
    from sat.cli import main

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # the encoder's convolutions as on the CPU
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    images = awkward_images(tmp_path / "images")
    paths = [images["rgba"], images["corrupt"], images["gray"]]
    torch.manual_seed(0)  # the tiny checkpoint's small-cnn encoder has no weights file: seed its random start
    on_cpu = caption_images(paths, checkpoint=checkpoint, beam_size=3, max_len=6)
    torch.manual_seed(0)
    on_gpu = caption_images(paths, checkpoint=checkpoint, beam_size=3, max_len=6, device="cuda",
                            plot_dir=tmp_path / "plots")
    assert [r.caption for r in on_gpu] == [r.caption for r in on_cpu] and on_gpu[1].error is not None
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["gray.png", "rgba.png"]

    data = tmp_path / "data"
    make_flickr8k(data / "flickr8k", splits={"train": ["1_a.jpg"], "dev": ["2_b.jpg"], "test": ["3_c.jpg", "4_d.jpg"]})
    captions = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        torch.manual_seed(0)
        assert main(["evaluate", "--checkpoint", str(checkpoint), "--split", "test", "--beam", "2", "--max-len", "5",
                     "--out", str(out), "--data-dir", str(data), "--cache-dir", str(tmp_path / f"cache-{device}"),
                     "--fast", "--device", device]) == 0
        captions[device] = json.loads((out / "captions.json").read_text())
    assert captions["cuda"] == captions["cpu"]
