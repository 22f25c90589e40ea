"""The two attention-free baselines of Table 1: Show and Tell (Google NIC) and Karpathy & Fei-Fei's multimodal RNN.

Both see the image once, as one vector: the mean annotation vector (mean_i a_i, D) stands in for the CNN's fc feature.

* Show and Tell (Vinyals et al. 2015): x_{-1} = W_I CNN(I) is the LSTM's first input, then x_t = W_e S_t; the
  state starts at zero and p_{t+1} = softmax(W_o h_t).
* Multimodal RNN (Karpathy & Fei-Fei 2015, §3.2): b_v = W_hi CNN(I), and
  ``h_t = f(W_hx x_t + W_hh h_{t-1} + b_h + 1(t=1) ⊙ b_v)``, ``y_t = softmax(W_oh h_t + b_o)`` with f = ReLU (or an LSTM
  whose four gates receive b_v), h_0 = 0, the image only at the first step.

Shapes: B batch, T prediction steps, D annotation size, E embedding size, H hidden size, V vocabulary.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import CaptionModel, LossOutput
from .captions import caption_losses, log_frequency_bias, teacher_forcing
from .config import ModelConfig
from .show_attend_tell import lstm_update


class _AttentionFreeModel(CaptionModel):
    """``loss`` for models whose teacher-forced ``hidden_states`` give logits with ``out_vocab`` (no regulariser)."""

    out_vocab: nn.Linear
    dropout: nn.Dropout

    def hidden_states(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """features (B, L, D), input tokens (B, T) → h_1..h_T (B, T, H)."""
        raise NotImplementedError

    def init_output_bias(self, word_counts: torch.Tensor) -> None:
        with torch.no_grad():
            self.out_vocab.bias.copy_(log_frequency_bias(word_counts))

    def loss(self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor) -> LossOutput:
        """Mean over captions of −log p(y | I) (with label smoothing, its smoothed form); ``nll`` per word."""
        inputs, targets, mask = teacher_forcing(captions, lengths)  # (B, T) each
        hiddens = self.hidden_states(features, inputs)  # (B, T, H)
        logits = self.out_vocab(self.dropout(hiddens[mask]))  # (N, V), real words only
        nll, loss = caption_losses(logits, targets, mask, self.config.label_smoothing)  # (B,) each
        num_words = int(mask.sum())
        return LossOutput(loss=loss.mean(), nll=nll.detach().sum() / num_words, num_words=num_words)


class ShowAndTell(_AttentionFreeModel):
    """Vinyals et al. (2015): the image vector is the LSTM's input at t = −1, then the words; no attention."""

    def __init__(self, config: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        E, H = config.embed_dim, config.hidden_dim
        self.image_to_input = nn.Linear(config.feature_dim, E)  # W_I
        self.embedding = nn.Embedding(vocab_size, E)  # W_e
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.lstm = nn.LSTM(E, H, batch_first=True)
        self.out_vocab = nn.Linear(H, vocab_size)  # W_o
        nn.init.zeros_(self.out_vocab.bias)
        self.dropout = nn.Dropout(config.dropout)

    def image_input(self, features: torch.Tensor) -> torch.Tensor:
        """x_{-1} = W_I mean_i a_i: (B, L, D) → (B, 1, E)."""
        return self.dropout(self.image_to_input(features.mean(dim=1))).unsqueeze(1)

    def hidden_states(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        sequence = torch.cat([self.image_input(features), self.dropout(self.embedding(inputs))], dim=1)  # (B, T+1, E)
        hiddens, _ = self.lstm(sequence)  # (B, T+1, H)
        return hiddens[:, 1:]  # (B, T, H): the image step predicts nothing

    def init_state(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        _, (hidden, cell) = self.lstm(self.image_input(features))  # (1, B, H) each
        return {"h": hidden.squeeze(0), "c": cell.squeeze(0)}

    def step(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], None]:
        words = self.dropout(self.embedding(tokens)).unsqueeze(1)  # (B, 1, E)
        output, (hidden, cell) = self.lstm(words, (state["h"].unsqueeze(0), state["c"].unsqueeze(0)))  # (B, 1, H)
        log_probs = torch.log_softmax(self.out_vocab(self.dropout(output.squeeze(1))), dim=-1)  # (B, V)
        return log_probs, {"h": hidden.squeeze(0), "c": cell.squeeze(0)}, None


class MultimodalRNN(_AttentionFreeModel):
    """Karpathy & Fei-Fei (2015) §3.2: the image enters once, as the extra bias b_v of the first step."""

    def __init__(self, config: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        E, H = config.embed_dim, config.hidden_dim
        gate_count = 4 if config.rnn_cell == "lstm" else 1
        self.image_to_bias = nn.Linear(config.feature_dim, gate_count * H)  # W_hi (b_v = W_hi CNN(I))
        self.embedding = nn.Embedding(vocab_size, E)  # x_t = W_w 1_t
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.input_to_hidden = nn.Linear(E, gate_count * H)  # W_hx and b_h
        self.hidden_to_hidden = nn.Linear(H, gate_count * H, bias=False)  # W_hh
        self.out_vocab = nn.Linear(H, vocab_size)  # W_oh and b_o
        nn.init.zeros_(self.out_vocab.bias)
        self.dropout = nn.Dropout(config.dropout)  # on inputs and outputs, never on the recurrence (§3.3)

    def recur(self, pre_activation: torch.Tensor, hidden: torch.Tensor,
              cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h_t = f(pre_activation + W_hh h_{t-1}); ``pre_activation`` (B, gH) already holds W_hx x_t + b_h (+ b_v)."""
        pre_activation = pre_activation + self.hidden_to_hidden(hidden)  # (B, gH)
        if self.config.rnn_cell == "lstm":
            return lstm_update(pre_activation, cell)
        return torch.relu(pre_activation), cell

    def hidden_states(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        pre_activations = self.input_to_hidden(self.dropout(self.embedding(inputs)))  # (B, T, gH), every step at once
        image_bias = self.image_to_bias(features.mean(dim=1))  # (B, gH) b_v
        pre_activations = torch.cat([(pre_activations[:, 0] + image_bias).unsqueeze(1), pre_activations[:, 1:]], dim=1)
        hidden = features.new_zeros(features.size(0), self.config.hidden_dim)  # (B, H) h_0 = 0
        cell = torch.zeros_like(hidden)
        hiddens = []
        for t in range(inputs.size(1)):
            hidden, cell = self.recur(pre_activations[:, t], hidden, cell)
            hiddens.append(hidden)
        return torch.stack(hiddens, dim=1)  # (B, T, H)

    def init_state(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """h_0 = c_0 = 0, and b_v waiting to be added at the first step."""
        hidden = features.new_zeros(features.size(0), self.config.hidden_dim)  # (B, H)
        return {"h": hidden, "c": torch.zeros_like(hidden), "image_bias": self.image_to_bias(features.mean(dim=1))}

    def step(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], None]:
        pre_activation = self.input_to_hidden(self.dropout(self.embedding(tokens))) + state["image_bias"]  # (B, gH)
        hidden, cell = self.recur(pre_activation, state["h"], state["c"])
        log_probs = torch.log_softmax(self.out_vocab(self.dropout(hidden)), dim=-1)  # (B, V)
        return log_probs, {"h": hidden, "c": cell, "image_bias": torch.zeros_like(state["image_bias"])}, None
