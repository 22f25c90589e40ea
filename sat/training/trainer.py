"""The training loop: length-bucketed minibatches over cached features, RMSProp or Adam with gradient clipping,
validation BLEU-4 from real decoding with early stopping, checkpoints that resume a killed run exactly.

A run lives in ``OUT_DIR/NAME/``::

    config.yaml        the experiment as run
    train_log.jsonl    train rows (loss, nll, extra model metrics, captions/s, lr) and eval rows (val BLEU)
    last.pt            the latest state (every ``checkpoint_every`` steps, at every validation, at the end, on SIGTERM)
    best.pt            the state with the best validation BLEU-4
                       (with ``train.ema_decay`` the weight average is what is validated and exported)
    best_fp16.pt       ``export_half(best.pt)``: float16 weights + vocabulary + config, for inference

Exact resumption: the batch order is a pure function of (seed, epoch) (``LengthBucketSampler``), so the checkpoint
stores the epoch and the number of batches done in it, together with every RNG state (dropout, hard-attention sampling)
of every rank; a resumed run repeats the interrupted run's remaining steps bit for bit on the same machine.
A non-finite loss (or, without AMP, gradient) stops the run before the optimizer touches the weights and before any
checkpoint is written, so ``last.pt`` stays the last good state.
"""
from __future__ import annotations

import math
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..config import ExperimentConfig, TrainConfig
from ..data import LengthBucketSampler
from ..models.config import build_model
from . import distributed
from .averaging import averaged_state, load_averaged_state, weight_average
from .checkpoint import (CheckpointError, check_compatible, copy_checkpoint, export_half, load_training_checkpoint,
                         rng_state, save_training_checkpoint, set_rng_state)
from .data import TrainingData, load_training_data, open_store
from .log import MetricsLog
from .validation import validate


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss or gradient and was stopped; the message names the last good checkpoint."""


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(model: torch.nn.Module, config: ExperimentConfig) -> torch.optim.Optimizer:
    train = config.train
    if train.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=train.lr, alpha=train.rmsprop_alpha,
                                   momentum=train.momentum, weight_decay=train.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)


def learning_rate(train: TrainConfig, epoch: int) -> float:
    """The learning rate of (0-based) ``epoch``: ``train.lr``, times ``lr_decay`` for every epoch from
    ``lr_decay_start`` on (a step-down after a constant start, or with the default start 1 a decay every epoch)."""
    return train.lr * train.lr_decay ** max(0, epoch - train.lr_decay_start + 1)


class Trainer:
    """One training run of ``config``; ``resume`` continues from ``RUN/last.pt``.

    ``data`` replaces the dataset and feature cache named by ``config.data`` (tests pass a tiny one).
    """

    def __init__(self, config: ExperimentConfig, resume: bool = False, data: TrainingData | None = None) -> None:
        self.config = config
        cfg = config.train
        self.info = distributed.setup(cfg.device)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.run_dir = config.run_dir
        self.last_path, self.best_path = self.run_dir / "last.pt", self.run_dir / "best.pt"
        if resume and not self.last_path.is_file():
            raise CheckpointError(f"{self.last_path}: nothing to resume (no checkpoint in {self.run_dir})")
        if not resume and self.last_path.exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; continue it with --resume, or choose another "
                                  "name/out_dir (or delete the folder)")
        self.log = MetricsLog(self.run_dir / "train_log.jsonl", enabled=self.info.is_main)
        if not resume and self.info.is_main:
            self.log.path.unlink(missing_ok=True)  # rows of an earlier attempt that never reached a checkpoint
        seed_everything(cfg.seed + self.info.rank)

        state = None
        if resume:  # read first, so that the vocabulary is checked against the data before any work
            state = load_training_checkpoint(self.last_path)
        self.data = data if data is not None else self._load_data()
        if state is not None:
            changed = check_compatible(self.last_path, state, config, self.data.vocab)
            if changed and self.info.is_main:
                print(f"resuming {self.run_dir} with changed train settings: {', '.join(changed)}")
        if self.data.feature_dim != config.model.feature_dim:
            raise ValueError(f"model.feature_dim={config.model.feature_dim} but the features have D="
                             f"{self.data.feature_dim} ({config.data.encoder} at {config.data.image_size} px)")

        word_counts = self.data.word_counts if cfg.log_frequency_bias else None
        self.model = build_model(config.model, len(self.data.vocab), word_counts).to(self.info.device)
        self.optimizer = make_optimizer(self.model, config)
        self.average = weight_average(self.model, cfg.ema_decay)  # None without averaging
        self.amp = cfg.amp and self.info.device.type == "cuda"  # float16 autocast, with a gradient scaler
        self.cpu_bf16 = cfg.cpu_bf16 and self.info.device.type == "cpu"  # bfloat16 autocast: no scaler needed
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.step = self.epoch = self.batch_in_epoch = self.bad_evals = 0
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.elapsed_s = 0.0
        self.saved_step: int | None = None
        self.last_eval_step: int | None = None
        if state is not None:
            self._restore(state)
        self.wrapped = distributed.wrap(self.model, self.info)
        self.sampler = LengthBucketSampler(self.data.lengths.tolist(), cfg.batch_size, shuffle=True, seed=cfg.seed,
                                           rank=self.info.rank, world_size=self.info.world_size)
        self._stop_signal: str | None = None
        self.bar: tqdm | None = None
        self._started = time.perf_counter()

    # ------------------------------------------------------------------------------------------------------- setup

    def _load_data(self) -> TrainingData:
        from ..data import load_dataset

        dataset = load_dataset(self.config.data.dataset, self.config.data.data_dir)
        if self.info.is_main:  # extract missing features once, before the other ranks open the cache
            open_store(dataset, self.config.data)
            if self.config.data.hflip:
                open_store(dataset, self.config.data, hflip=True)
        distributed.barrier(self.info)
        store = open_store(dataset, self.config.data, extract=False)
        return load_training_data(self.config.data, dataset=dataset, store=store)

    def _restore(self, state: dict[str, Any]) -> None:
        saved_ranks = len(state["rng"])
        if saved_ranks != self.info.world_size:
            raise CheckpointError(f"{self.last_path}: saved by {saved_ranks} process(es), resumed with "
                                  f"{self.info.world_size}; resume with the same number of processes")
        self.model.load_state_dict(state["model"])
        if self.average is not None and state.get("ema") is not None:  # else the average restarts from here
            load_averaged_state(self.average, state["ema"], state["ema_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.amp and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best_score, self.best_step, self.bad_evals = state["best_score"], state["best_step"], state["bad_evals"]
        self.elapsed_s = state["elapsed_s"]
        self.saved_step = self.last_eval_step = self.step
        set_rng_state(state["rng"][self.info.rank])
        self.log.truncate_after(self.step)

    # -------------------------------------------------------------------------------------------------- one step

    def train_step(self, indices: list[int]) -> dict[str, float]:
        """Forward, backward and update on the pairs ``indices``; returns the batch's (all-rank) statistics."""
        features, captions, lengths = self.data.batch(indices, self.info.device)  # (B, L, D), (B, T), (B,)
        with torch.autocast(self.info.device.type, dtype=torch.bfloat16 if self.cpu_bf16 else torch.float16,
                            enabled=self.amp or self.cpu_bf16):
            out = self.wrapped(features, captions, lengths)
        signalled, out_of_time = float(self._stop_signal is not None), float(self._out_of_time())
        totals = distributed.all_reduce_sum(torch.tensor(
            [float(out.loss.detach()), float(out.nll) * out.num_words, out.num_words, len(indices), signalled,
             out_of_time], dtype=torch.float64), self.info).tolist()
        loss = totals[0] / self.info.world_size
        if not math.isfinite(loss) or not math.isfinite(totals[1]):
            self._fail(f"non-finite loss ({loss})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out.loss).backward()
        stats = {"loss": loss, "nll_sum": totals[1], "words": totals[2], "captions": totals[3],
                 "signalled": totals[4], "out_of_time": totals[5], **out.metrics}
        if self.config.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.train.grad_clip))
            if not self.amp and not math.isfinite(grad_norm):  # with AMP the scaler skips such steps by itself
                self._fail(f"non-finite gradient norm ({grad_norm})")
            stats["grad_norm"] = grad_norm
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.average is not None:
            self.average.update_parameters(self.model)
        return stats

    def _fail(self, what: str) -> None:
        where = (f"the last good checkpoint {self.last_path} (step {self.saved_step}) is intact; resume from it "
                 "with a lower train.lr or train.grad_clip" if self.saved_step is not None
                 else "no checkpoint had been written yet")
        message = f"{what} at step {self.step + 1} (epoch {self.epoch}); training stopped: {where}"
        self.log.write({"type": "end", "step": self.step, "reason": "non-finite", "message": message})
        raise NonFiniteLossError(message)

    def _out_of_time(self) -> bool:
        budget = self.config.train.max_minutes
        return bool(budget) and self.info.is_main and self._elapsed() >= budget * 60

    def _elapsed(self) -> float:
        return self.elapsed_s + time.perf_counter() - self._started

    # ------------------------------------------------------------------------------------------ eval and saving

    def save(self) -> None:
        """Write ``last.pt`` (all ranks take part: each contributes its RNG state; rank 0 writes)."""
        rngs = distributed.gather_objects(rng_state(), self.info)
        if self.info.is_main:
            save_training_checkpoint(
                self.last_path, model=self.model, optimizer=self.optimizer, vocab=self.data.vocab,
                config=self.config, step=self.step, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch, rng=rngs,
                best_score=self.best_score, best_step=self.best_step, bad_evals=self.bad_evals,
                elapsed_s=self._elapsed(), scaler=self.scaler.state_dict() if self.amp else None,
                ema=averaged_state(self.average) if self.average is not None else None,
                ema_updates=int(self.average.n_averaged) if self.average is not None else 0)
        distributed.barrier(self.info)
        self.saved_step = self.step

    def evaluate(self) -> bool:
        """Validate (rank 0), update the best score, save ``last.pt`` (and ``best.pt``); True when patience ran out."""
        scores = None
        if self.info.is_main:
            model = self.average.module if self.average is not None else self.model
            scores = validate(model, self.data, self.config.train)
        scores = distributed.broadcast_object(scores, self.info)
        bleu = scores["Bleu_4"]
        improved = self.best_score is None or bleu > self.best_score
        if improved:
            self.best_score, self.best_step, self.bad_evals = bleu, self.step, 0
        else:
            self.bad_evals += 1
        self.last_eval_step = self.step
        self.log.write({"type": "eval", "step": self.step, "epoch": self.epoch, **scores,
                        "beam": self.config.train.val_beam, "best_Bleu_4": self.best_score, "improved": improved})
        if self.info.is_main:
            self._say(f"step {self.step}: val BLEU-4 {100 * bleu:.2f} (best {100 * self.best_score:.2f} at step "
                      f"{self.best_step}) on {scores['val_images']} images, decoded in {scores['decode_s']:.0f}s")
        self.save()
        if improved and self.info.is_main:
            copy_checkpoint(self.last_path, self.best_path)
        patience = self.config.train.patience
        return bool(patience) and self.bad_evals >= patience

    def _say(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message)
        else:
            print(message, flush=True)

    # ------------------------------------------------------------------------------------------------ the loop

    def _handle_signal(self, signum: int, frame: Any) -> None:
        if self._stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._stop_signal = signal.Signals(signum).name

    def train(self) -> Path:
        """Run until the epochs, ``max_steps`` or ``max_minutes`` are used up or validation stops improving; then
        make sure the final state was validated, export ``best_fp16.pt`` and return the run folder.

        SIGINT/SIGTERM stop the run after the current step with ``last.pt`` saved (a second SIGINT aborts at once)."""
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(self.config.to_yaml())
        self._started = time.perf_counter()
        previous = {}
        if threading_is_main():
            previous = {s: signal.signal(s, self._handle_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            reason = self._loop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if self.bar is not None:
                self.bar.close()
                self.bar = None
        if reason == "interrupted":
            self.save()
            message = f"interrupted ({self._stop_signal}) at step {self.step}; continue with --resume"
        else:
            if self.last_eval_step != self.step:
                self.evaluate()
            if self.info.is_main:
                export_half(self.best_path, self.run_dir / "best_fp16.pt")
            message = (f"finished ({reason}) at step {self.step}: best val BLEU-4 {100 * (self.best_score or 0):.2f} "
                       f"at step {self.best_step}")
        self.log.write({"type": "end", "step": self.step, "epoch": self.epoch, "reason": reason,
                        "best_Bleu_4": self.best_score, "best_step": self.best_step, "elapsed_s": self._elapsed()})
        if self.info.is_main:
            self._say(f"{self.run_dir}: {message}")
        return self.run_dir

    def _loop(self) -> str:
        """The epochs; returns why they ended: "epochs", "max_steps", "max_minutes", "early_stopping", "interrupted"."""
        cfg = self.config.train
        self.model.train()
        window = new_window()  # sums over the steps since the last train row
        extras: dict[str, float] = {}
        while self.epoch < cfg.epochs:
            self.sampler.set_epoch(self.epoch)
            batches = list(self.sampler)  # this rank's batches of the epoch, in order
            lr = learning_rate(cfg, self.epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if self.bar is None and self.info.is_main and cfg.progress:
                self.bar = tqdm(total=len(batches), initial=self.batch_in_epoch, desc=f"{self.config.name} epoch "
                                f"{self.epoch}", unit="batch", dynamic_ncols=True)
            elif self.bar is not None:
                self.bar.reset(total=len(batches))
                self.bar.set_description(f"{self.config.name} epoch {self.epoch}")
            for position in range(self.batch_in_epoch, len(batches)):
                started = time.perf_counter()
                stats = self.train_step(batches[position])
                window["seconds"] += time.perf_counter() - started  # training time only: no validation or saving
                self.step += 1
                epoch_done = position + 1 == len(batches)
                self.epoch, self.batch_in_epoch = (self.epoch + 1, 0) if epoch_done else (self.epoch, position + 1)
                for key in ("loss", "nll_sum", "words", "captions"):
                    window[key] += stats[key]
                window["steps"] += 1
                for key, value in stats.items():
                    if key not in window and key not in ("signalled", "out_of_time"):
                        extras[key] = extras.get(key, 0.0) + value
                if self.bar is not None:
                    self.bar.update(1)
                if self.step % cfg.log_every == 0 or epoch_done:
                    self._log_window(window, extras, lr, position + 1, len(batches))
                    extras = {}
                    window = new_window()
                eval_due = (cfg.eval_every and self.step % cfg.eval_every == 0) or (not cfg.eval_every and epoch_done)
                if eval_due and self.evaluate():
                    return "early_stopping"
                if stats["signalled"]:
                    return "interrupted"
                if stats["out_of_time"]:
                    return "max_minutes"
                if cfg.max_steps and self.step >= cfg.max_steps:
                    return "max_steps"
                if not eval_due and self.step % cfg.checkpoint_every == 0:
                    self.save()
        return "epochs"

    def _log_window(self, window: dict[str, float], extras: dict[str, float], lr: float, position: int,
                    total: int) -> None:
        steps = max(window["steps"], 1)
        seconds = max(window["seconds"], 1e-9)
        nll = window["nll_sum"] / max(window["words"], 1)
        row = {"type": "train", "step": self.step, "epoch": self.epoch - (position == total) + position / total,
               "loss": window["loss"] / steps, "nll": nll, "perplexity": math.exp(min(nll, 50.0)),
               **{key: value / steps for key, value in extras.items()},
               "captions_per_s": window["captions"] / seconds, "words_per_s": window["words"] / seconds,
               "lr": lr, "elapsed_s": self._elapsed()}
        self.log.write(row)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{row['loss']:.3f}", cap_s=f"{row['captions_per_s']:.0f}", refresh=False)


def new_window() -> dict[str, float]:
    return {"loss": 0.0, "nll_sum": 0.0, "words": 0.0, "captions": 0.0, "steps": 0, "seconds": 0.0}


def threading_is_main() -> bool:
    """Signal handlers can only be installed from the main thread."""
    import threading

    return threading.current_thread() is threading.main_thread()


def train(config: ExperimentConfig, resume: bool = False, data: TrainingData | None = None) -> Path:
    """Train ``config`` (``resume``: continue ``RUN/last.pt``); returns the run folder. Under ``torchrun`` every rank
    calls this; the process group is torn down at the end."""
    try:
        return Trainer(config, resume=resume, data=data).train()
    finally:
        distributed.cleanup()
