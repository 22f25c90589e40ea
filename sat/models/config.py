"""Every hyper-parameter of a caption generator in one plain dataclass, and ``build_model`` to turn it into a module.

The defaults are the paper's Flickr8k soft-attention model on EfficientNet-Lite0 features (L = 49, D = 1280); the
hard-attention constants are those of the authors' code (kelvinxu/arctic-captions, ``capgen.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from .base import CaptionModel

KINDS = ("sat", "nic", "mrnn")
ATTENTIONS = ("soft", "hard")
DOUBLY_STOCHASTIC_TARGETS = ("one", "C/L")
REWARDS = ("word_mean", "caption")
TEST_ATTENTIONS = ("expected", "argmax")
RNN_CELLS = ("relu", "lstm")


@dataclass
class ModelConfig:
    """Hyper-parameters of one caption generator (JSON/YAML friendly: only str, int, float and bool fields)."""

    kind: str = "sat"  # "sat" Show, Attend and Tell | "nic" Show and Tell | "mrnn" Karpathy's multimodal RNN
    attention: str = "soft"  # sat only: "soft" (§4.2, backprop) | "hard" (§4.1, REINFORCE)
    feature_dim: int = 1280  # D, size of one annotation vector a_i
    embed_dim: int = 512  # m, word embedding size (also the deep-output layer's size, Eq. 7)
    hidden_dim: int = 512  # n, LSTM / RNN state size
    attention_dim: int = 512  # size of the attention MLP's hidden layer (Eq. 4)
    dropout: float = 0.5
    label_smoothing: float = 0.0  # ε: train on (1 − ε) one-hot + ε uniform targets; 0 is the paper's −log p(y|a)
    gate: bool = True  # the scalar β_t = σ(f_β(h_{t-1})) of §4.2.1 ("selector" in arctic)
    deep_output: bool = True  # Eq. 7; off: logits = L_o h_t
    init_layers: int = 1  # depth of the MLP from mean annotation to h_0, c_0 (arctic n_layers_init; 1 = one tanh layer)
    # Doubly stochastic regularisation, Eq. 14: λ Σ_i (target − Σ_t α_ti)²
    doubly_stochastic: float = 1.0  # λ (arctic alpha_c)
    doubly_stochastic_target: str = "one"  # "one" as in Eq. 14 | "C/L" (caption length over locations)
    # Hard attention (§4.1), arctic constants
    entropy_weight: float = 0.002  # λ_e
    reinforce_scale: float = 0.1  # λ_r
    baseline_decay: float = 0.9  # b ← decay·b + (1 − decay)·mean reward
    expected_prob: float = 0.5  # probability, per minibatch, of training on the expected context instead of a sample
    reward: str = "word_mean"  # "word_mean": log p(y|s̃,a) / words (arctic) | "caption": log p(y|s̃,a) (Eq. 12)
    test_attention: str = "expected"  # hard attention at test time: "expected" context Σ α a | "argmax" location
    rnn_cell: str = "relu"  # mrnn only: "relu" (Karpathy & Fei-Fei §3.2) | "lstm"

    def __post_init__(self) -> None:
        choices = {"kind": KINDS, "attention": ATTENTIONS, "doubly_stochastic_target": DOUBLY_STOCHASTIC_TARGETS,
                   "reward": REWARDS, "test_attention": TEST_ATTENTIONS, "rnn_cell": RNN_CELLS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"ModelConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("feature_dim", "embed_dim", "hidden_dim", "attention_dim", "init_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "expected_prob", "baseline_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"ModelConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"ModelConfig.label_smoothing must lie in [0, 1), got {self.label_smoothing}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        """The inverse of ``to_dict``; an unknown key is an error (a typo must not silently fall back to a default)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**values)


def build_model(config: ModelConfig, vocab_size: int,
                word_counts: Sequence[float] | torch.Tensor | None = None) -> CaptionModel:
    """The caption generator ``config`` describes, over a vocabulary of ``vocab_size`` ids.

    ``word_counts[i]`` is how often id ``i`` occurs as a target in the training captions (``<end>`` once per caption).
    When given, the output layer's bias starts at the log word frequency (Karpathy & Fei-Fei §3.2, neuraltalk), for
    every kind of model; when ``None`` it starts at zero as in arctic-captions.
    """
    from .baselines import MultimodalRNN, ShowAndTell
    from .show_attend_tell import ShowAttendTell

    models = {"sat": ShowAttendTell, "nic": ShowAndTell, "mrnn": MultimodalRNN}
    model = models[config.kind](config, vocab_size)
    if word_counts is not None:
        model.init_output_bias(torch.as_tensor(word_counts, dtype=torch.float32))
    return model
