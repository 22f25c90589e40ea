"""The training loop on a tiny random-feature dataset: logs and checkpoints, repeatability, exact resumption after a
kill mid-epoch, NaN handling, early stopping and refusing incompatible checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sat.models.show_attend_tell import ShowAttendTell
from sat.training import CheckpointError, NonFiniteLossError, load_for_inference, read_checkpoint, train
from sat.training.log import MetricsLog
from _training_helpers import run_until_killed, step_losses, tiny_config, tiny_data

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def _rows(run: Path, kind: str) -> list[dict]:
    return [row for row in MetricsLog(run / "train_log.jsonl").read() if row["type"] == kind]


def test_run_writes_log_checkpoints_and_export(tmp_path: Path, data) -> None:
    run = train(tiny_config(tmp_path), data=data)
    assert {"config.yaml", "train_log.jsonl", "last.pt", "best.pt", "best_fp16.pt"} <= {p.name for p in run.iterdir()}
    rows = _rows(run, "train")
    steps_per_epoch = rows[-1]["step"] // 2
    assert [row["step"] for row in rows] == list(range(1, 2 * steps_per_epoch + 1))  # log_every=1
    assert {"loss", "nll", "perplexity", "doubly_stochastic", "grad_norm", "captions_per_s", "lr", "epoch"} <= set(rows[0])
    evals = _rows(run, "eval")  # one per epoch, from beam search on all 6 val images
    assert [row["step"] for row in evals] == [steps_per_epoch, 2 * steps_per_epoch]
    assert all(0.0 <= row["Bleu_4"] <= 1.0 and row["val_images"] == 6 and row["beam"] == 2 for row in evals)
    end = _rows(run, "end")[-1]
    assert end["reason"] == "epochs" and end["best_Bleu_4"] == max(row["Bleu_4"] for row in evals)
    best = read_checkpoint(run / "best.pt")
    assert best["best_step"] == best["step"] == end["best_step"]
    last = read_checkpoint(run / "last.pt")
    assert last["step"] == 2 * steps_per_epoch and last["epoch"] == 2 and last["batch_in_epoch"] == 0
    model, vocab, config = load_for_inference(run / "best_fp16.pt")
    assert vocab == data.vocab and config.model.hidden_dim == 16
    assert rows[-1]["loss"] < rows[0]["loss"]  # it learns something


def test_same_seed_same_run(tmp_path: Path, data) -> None:
    first = train(tiny_config(tmp_path / "a", epochs=1), data=data)
    second = train(tiny_config(tmp_path / "b", epochs=1), data=data)
    assert step_losses(first) == step_losses(second)


def test_cpu_bf16_autocast_trains_in_bfloat16(tmp_path: Path, data) -> None:
    fp32 = train(tiny_config(tmp_path / "fp32", epochs=1), data=data)
    bf16 = train(tiny_config(tmp_path / "bf16", epochs=1, cpu_bf16=True), data=data)
    fp32_losses, bf16_losses = step_losses(fp32), step_losses(bf16)
    assert fp32_losses.keys() == bf16_losses.keys()
    assert fp32_losses != bf16_losses  # the matmuls really ran in bfloat16 ...
    assert all(abs(bf16_losses[s] - fp32_losses[s]) < 0.05 * fp32_losses[s] for s in fp32_losses)  # ... to ~3 digits
    assert read_checkpoint(bf16 / "last.pt")["model"]["gate.weight"].dtype == torch.float32  # weights stay float32


@pytest.mark.parametrize("attention, ema_decay", [("soft", 0.0), ("hard", 0.0), ("soft", 0.8)])
def test_resume_after_kill_mid_epoch_continues_exactly(tmp_path: Path, data, attention: str, ema_decay: float,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def config(folder: str):
        experiment = tiny_config(tmp_path / folder, epochs=2, checkpoint_every=3, ema_decay=ema_decay)
        experiment.model.attention = attention
        return experiment

    reference = step_losses(train(config("uninterrupted"), data=data))
    run_until_killed(config("killed"), data, monkeypatch, after_step=7)
    run = tmp_path / "killed" / "tiny"
    saved = read_checkpoint(run / "last.pt")
    assert (saved["step"], saved["epoch"]) == (6, 0) and 0 < saved["batch_in_epoch"] < len(reference) // 2  # mid-epoch
    assert max(step_losses(run)) == 7  # steps 7 was logged before the kill; the resumed run redoes it

    resumed = step_losses(train(config("killed"), resume=True, data=data))
    assert resumed == reference  # every step, the next one after the checkpoint included, bit for bit
    if ema_decay:  # the weight average was restored too, with its count of updates
        final, expected = (read_checkpoint(tmp_path / folder / "tiny" / "last.pt") for folder in ("killed", "uninterrupted"))
        assert final["ema_updates"] == expected["ema_updates"] == max(reference)
        assert all(torch.equal(final["ema"][key], expected["ema"][key]) for key in expected["ema"])


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path: Path, data,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = tiny_config(tmp_path, checkpoint_every=3)
    original, calls = ShowAttendTell.loss, []

    def poisoned(self, features, captions, lengths):
        out = original(self, features, captions, lengths)
        calls.append(1)
        if len(calls) == 8:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(ShowAttendTell, "loss", poisoned)
    with pytest.raises(NonFiniteLossError) as err:
        train(config, data=data)
    monkeypatch.undo()
    message = str(err.value)
    last = config.run_dir / "last.pt"
    assert "non-finite loss" in message and "step 8" in message and f"{last} (step 6) is intact" in message
    state = read_checkpoint(last)
    assert state["step"] == 6 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert _rows(config.run_dir, "end")[-1]["reason"] == "non-finite"
    train(config, resume=True, data=data)  # the kept checkpoint is good: training goes on from it
    assert read_checkpoint(last)["step"] > 8


def test_early_stopping_on_validation_bleu(tmp_path: Path, data) -> None:
    run = train(tiny_config(tmp_path, epochs=10, lr=0.0, patience=2), data=data)  # lr 0: BLEU-4 can never improve
    evals = _rows(run, "eval")
    assert len(evals) == 3 and [row["improved"] for row in evals] == [True, False, False]
    assert _rows(run, "end")[-1]["reason"] == "early_stopping"


def test_incompatible_or_missing_runs_fail_clearly(tmp_path: Path, data) -> None:
    config = tiny_config(tmp_path, max_steps=3)
    train(config, data=data)
    with pytest.raises(FileExistsError, match="--resume"):
        train(config, data=data)
    bigger = tiny_config(tmp_path, max_steps=3)
    bigger.model.hidden_dim = 32
    with pytest.raises(CheckpointError, match=r"last\.pt: config mismatch.*model\.hidden_dim: 16 -> 32"):
        train(bigger, resume=True, data=data)
    with pytest.raises(CheckpointError, match=r"last\.pt: vocabulary mismatch"):
        train(config, resume=True, data=tiny_data(seed=1))  # other captions, other vocabulary
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_config(tmp_path / "empty"), resume=True, data=data)


def test_sat_train_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sat import cli
    from sat.training import trainer

    config_file = tmp_path / "exp.yaml"
    config_file.write_text("model: {attention: hard}\ntrain: {epochs: 3}\n")
    seen = {}
    monkeypatch.setattr(trainer, "train", lambda config, resume=False: seen.update(config=config, resume=resume))
    assert cli.main(["train", "--config", str(config_file), "--resume", "train.lr=1e-3", "name=x"]) == 0
    assert seen["resume"] and seen["config"].name == "x" and seen["config"].train.lr == 1e-3
    assert seen["config"].model.attention == "hard" and seen["config"].train.epochs == 3

    assert cli.main(["train", "--config", str(config_file), "train.lrr=1"]) == 2
    assert cli.main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert "unknown train key 'lrr'" in errors[0] and "missing.yaml" in errors[1]

    def diverges(config, resume=False):
        raise trainer.NonFiniteLossError("non-finite loss (nan) at step 3 (epoch 0); training stopped: …")

    monkeypatch.setattr(trainer, "train", diverges)
    assert cli.main(["train", "--config", str(config_file)]) == 1
    assert "non-finite loss" in capsys.readouterr().err


def test_features_in_memory_or_memory_mapped_give_the_same_batches() -> None:
    from sat.config import DataConfig
    from sat.training.data import load_training_data
    from _training_helpers import tiny_dataset

    dataset, store = tiny_dataset()
    in_ram = load_training_data(DataConfig(min_count=1), dataset=dataset, store=store, in_memory=True)
    mapped = load_training_data(DataConfig(min_count=1), dataset=dataset, store=store, in_memory=False)
    assert isinstance(in_ram.features, torch.Tensor) and in_ram.features.dtype == torch.float16
    assert len(in_ram.features) == 24  # training images only, not val
    indices = [5, 0, 17, 40, 3]
    for a, b in zip(in_ram.batch(indices), mapped.batch(indices)):
        assert torch.equal(a, b)
    features, captions, lengths = in_ram.batch(indices)
    assert features.shape == (5, 4, 8) and features.dtype == torch.float32
    assert captions.shape == (5, int(lengths.max())) and (captions[:, 0] == 1).all()
    record = dataset.images[in_ram.image_rows[40]]  # pair 40's features are its image's row of the store
    assert torch.equal(features[3], torch.from_numpy(store.array[store.index[record.filename]]).float())


def test_learning_rate_schedule_steps_down_from_lr_decay_start() -> None:
    from sat.config import TrainConfig
    from sat.training.trainer import learning_rate

    every_epoch = TrainConfig(lr=1.0, lr_decay=0.8)  # the default start: decay after every epoch
    assert [learning_rate(every_epoch, e) for e in range(3)] == pytest.approx([1.0, 0.8, 0.64])
    step_down = TrainConfig(lr=4e-4, lr_decay=0.5, lr_decay_start=7)  # constant for 7 epochs, then halved each epoch
    assert [learning_rate(step_down, e) for e in (0, 6, 7, 8)] == pytest.approx([4e-4, 4e-4, 2e-4, 1e-4])
    assert learning_rate(TrainConfig(lr=3e-4), 50) == 3e-4  # lr_decay 1: constant


def test_weight_average_is_the_debiased_ema_of_the_trajectory_and_is_what_inference_uses(tmp_path: Path,
                                                                                         data) -> None:
    decay = 0.75
    one, two = (read_checkpoint(train(tiny_config(tmp_path / f"s{n}", max_steps=n, ema_decay=decay), data=data)
                                / "last.pt") for n in (1, 2))
    plain = train(tiny_config(tmp_path / "plain", max_steps=2), data=data)
    assert step_losses(plain) == step_losses(tmp_path / "s2" / "tiny")  # averaging never changes the training itself
    assert one["ema_updates"] == 1 and two["ema_updates"] == 2
    for key, theta_2 in two["model"].items():
        if theta_2.is_floating_point():
            assert torch.equal(one["ema"][key], one["model"][key])  # the first update copies θ_1
            expected = (decay * one["model"][key] + theta_2) / (1 + decay)  # Σ d^(n−k) θ_k / Σ d^(n−k), n = 2
            torch.testing.assert_close(two["ema"][key], expected)
    assert not torch.equal(two["ema"]["gate.weight"], two["model"]["gate.weight"])
    assert read_checkpoint(tmp_path / "plain" / "tiny" / "last.pt")["ema"] is None
    run = tmp_path / "s2" / "tiny"
    best = read_checkpoint(run / "best.pt")
    model, _, _ = load_for_inference(run / "best.pt")
    assert torch.equal(model.state_dict()["gate.weight"], best["ema"]["gate.weight"])  # the average, not θ
    exported, _, _ = load_for_inference(run / "best_fp16.pt")
    torch.testing.assert_close(exported.state_dict()["gate.weight"], best["ema"]["gate.weight"], atol=1e-3, rtol=1e-3)


def test_debiased_ema_weights_sum_to_one_and_forget_nothing_of_the_start() -> None:
    from sat.training.averaging import debiased_ema

    decay, thetas = 0.9, [torch.tensor([float(k)]) for k in range(1, 8)]  # θ_k = k
    update, average = debiased_ema(decay), thetas[0].clone()  # the first update copies θ_1
    for n, theta in enumerate(thetas[1:], start=2):
        update([average], [theta], torch.tensor(n - 1))
        weights = torch.tensor([decay ** (n - k) for k in range(1, n + 1)])
        torch.testing.assert_close(average, (weights * torch.tensor(range(1, n + 1))).sum(0, keepdim=True) / weights.sum())


def test_hflip_reads_the_mirrored_features_for_about_half_of_the_pairs() -> None:
    from sat.config import DataConfig
    from sat.features import FeatureStore
    from sat.training.data import load_training_data
    from _training_helpers import tiny_dataset

    dataset, store = tiny_dataset()
    mirror = FeatureStore(store.root, store.filenames, -store.array, store.status, store.meta)  # negated: tell apart
    config = DataConfig(min_count=1, hflip=True)
    in_ram = load_training_data(config, dataset=dataset, store=store, in_memory=True, mirror_store=mirror)
    mapped = load_training_data(config, dataset=dataset, store=store, in_memory=False, mirror_store=mirror)
    assert in_ram.mirrored is not None and in_ram.mirrored.shape == in_ram.features.shape
    indices = list(range(len(in_ram)))
    torch.manual_seed(3)
    features = in_ram.batch(indices)[0]  # (P, L, D)
    torch.manual_seed(3)
    assert torch.equal(features, mapped.batch(indices)[0])  # the same coins, RAM or memmap
    plain = load_training_data(DataConfig(min_count=1), dataset=dataset, store=store, in_memory=True)
    assert plain.mirrored is None
    original = plain.batch(indices)[0]  # (P, L, D)
    flipped = (features == -original).flatten(1).all(1)  # (P,)
    kept = (features == original).flatten(1).all(1)  # (P,)
    assert (flipped | kept).all()  # every pair is one view or the other, whole
    assert 0.3 < flipped.float().mean() < 0.7
