"""The Show, Attend and Tell decoder (Xu et al. 2015, §3.1.2 and §4), faithful to the paper and to arctic-captions.

One step t, given the annotations a (B, L, D), the previous word y_{t-1} and state (h_{t-1}, c_{t-1})::

    α_t = softmax(w^T tanh(W_a a + W_h h_{t-1} + b))                       Eqs. 4–5 (attention.py)
    ẑ_t = β_t Σ_i α_ti a_i,  β_t = σ(f_β(h_{t-1})) a scalar               Eq. 13 and §4.2.1 (soft / expected)
    ẑ_t = β_t a_{s_t},       s_t ~ Multinoulli(α_t)                        Eqs. 8–9 (hard, training)
    [i; f; o; g] = [σ; σ; σ; tanh] T(E y_{t-1}, h_{t-1}, ẑ_t),  T affine   Eq. 1
    c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)                        Eqs. 2–3
    p(y_t | a, y_<t) = softmax(L_o tanh(E y_{t-1} + L_h h_t + L_z ẑ_t))    Eq. 7 (deep output, tanh as in arctic)

with h_0, c_0 = tanh MLPs of the mean annotation (§3.1.2). Training is teacher-forced and fast because everything that
does not depend on h_{t-1} leaves the time loop: W_a a (once per image), T's word term for every step at once, the deep
output / vocabulary projection for every real word at once after the loop. Inside the loop remain only the attention
and the LSTM update.

Shapes: B batch, T prediction steps, L locations, D annotation size, E embedding size, H hidden size, V vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .attention import MLPAttention, hard_context, sample_locations, soft_context
from .base import CaptionModel, LossOutput
from .captions import caption_losses, log_frequency_bias, teacher_forcing
from .config import ModelConfig


def lstm_update(gates: torch.Tensor, cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. 1–3 from the pre-activations ``gates`` (N, 4H) in the paper's order [i; f; o; g] and c_{t-1} (N, H)."""
    hidden_size = cell.size(-1)
    input_gate, forget_gate, output_gate = torch.sigmoid(gates[:, : 3 * hidden_size]).chunk(3, dim=-1)  # (N, H) each
    candidate = torch.tanh(gates[:, 3 * hidden_size:])  # (N, H)
    cell = forget_gate * cell + input_gate * candidate
    hidden = output_gate * torch.tanh(cell)
    return hidden, cell


def doubly_stochastic_penalty(alpha: torch.Tensor, mask: torch.Tensor, target: str = "one") -> torch.Tensor:
    """Σ_i (τ − Σ_t α_ti)² of Eq. 14 for each caption, over its real steps only.

    alpha (B, T, L), mask (B, T) → (B,). τ = 1 as in the paper (``"one"``), or C/L (``"C/L"``: C real steps, L
    locations), which the authors later called more sensible: Σ_i Σ_t α_ti = C, so only τ = C/L can be met exactly,
    by attending to every location equally often.
    """
    coverage = (alpha * mask.unsqueeze(-1)).sum(dim=1)  # (B, L) attention each location received
    if target == "one":
        goal = torch.ones_like(coverage[:, :1])  # (B, 1)
    else:
        goal = mask.sum(dim=1, keepdim=True).to(alpha.dtype) / alpha.size(-1)  # (B, 1)
    return ((goal - coverage) ** 2).sum(dim=-1)  # (B,)


@dataclass
class TeacherForced:
    """What one teacher-forced pass over a batch produced."""

    caption_nll: torch.Tensor  # (B,) −log p(y | a, s) summed over each caption's real words
    caption_loss: torch.Tensor  # (B,) the training form of caption_nll: the same tensor unless label smoothing is on
    mask: torch.Tensor  # (B, T) True at real (non-pad) steps
    log_alpha: torch.Tensor  # (B, T, L) log α_t
    locations: torch.Tensor | None  # (B, T) the locations s_t attended to (hard attention), None for expected context


class ShowAttendTell(CaptionModel):
    """Show, Attend and Tell with soft (§4.2) or hard (§4.1) attention; see the module docstring for the equations."""

    def __init__(self, config: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        D, E, H = config.feature_dim, config.embed_dim, config.hidden_dim
        self.embedding = nn.Embedding(vocab_size, E)  # the embedding matrix E of Eq. 1
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.attention = MLPAttention(D, H, config.attention_dim)
        self.gate = nn.Linear(H, 1) if config.gate else None  # f_β: one scalar per step
        # f_init (§3.1.2): init_layers − 1 shared ReLU layers (arctic n_layers_init), then one tanh layer per h_0, c_0
        hidden_layers = [(nn.Linear(D, D), nn.ReLU()) for _ in range(config.init_layers - 1)]
        self.init_trunk = nn.Sequential(*[module for layer in hidden_layers for module in layer])
        self.init_h = nn.Linear(D, H)
        self.init_c = nn.Linear(D, H)
        # The affine map T of Eq. 1 as one matrix per input, so that the word part can be computed for all steps at once
        self.word_to_gates = nn.Linear(E, 4 * H)  # T's block for E y_{t-1}, and the gate biases
        self.context_to_gates = nn.Linear(D, 4 * H, bias=False)  # T's block for ẑ_t
        self.hidden_to_gates = nn.Linear(H, 4 * H, bias=False)  # T's block for h_{t-1}
        if config.deep_output:  # Eq. 7
            self.out_hidden = nn.Linear(H, E)  # L_h
            self.out_context = nn.Linear(D, E, bias=False)  # L_z
            self.out_vocab = nn.Linear(E, vocab_size)  # L_o
        else:
            self.out_vocab = nn.Linear(H, vocab_size)
        nn.init.zeros_(self.out_vocab.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer("baseline", torch.zeros(()))  # b, the REINFORCE moving-average baseline (§4.1)

    def init_output_bias(self, word_counts: torch.Tensor) -> None:
        with torch.no_grad():
            self.out_vocab.bias.copy_(log_frequency_bias(word_counts))

    # ----------------------------------------------------------------------------------------------------- one step

    def initial_state(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h_0, c_0 = tanh(f_init(mean_i a_i)) (§3.1.2): features (B, L, D) → (B, H), (B, H)."""
        mean_annotation = self.init_trunk(features.mean(dim=1))  # (B, D)
        return torch.tanh(self.init_h(mean_annotation)), torch.tanh(self.init_c(mean_annotation))

    def attend(self, annotations: torch.Tensor, projected: torch.Tensor, hidden: torch.Tensor, mode: str,
               locations: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The gated context ẑ_t for R rows per image.

        annotations (B, L, D), projected (B, L, A), hidden (B, R, H) = h_{t-1}. ``mode``: ``"expected"`` for
        Σ_i α_ti a_i (Eq. 13), ``"sample"`` for s_t ~ α_t (Eq. 8), ``"argmax"`` for the likeliest location, ``"given"``
        for ``locations`` (B, R). Returns ẑ_t (B, R, D), log α_t (B, R, L) and the locations used (B, R), None for
        the expected context.
        """
        log_alpha = self.attention(projected, hidden)  # (B, R, L)
        if mode == "expected":
            context = soft_context(annotations, log_alpha.exp())  # (B, R, D)
        else:
            if mode == "sample":
                locations = sample_locations(log_alpha.detach().exp())  # (B, R)
            elif mode == "argmax":
                locations = log_alpha.argmax(dim=-1)  # (B, R)
            elif mode != "given":
                raise ValueError(f"unknown attention mode {mode!r}")
            context = hard_context(annotations, locations)  # (B, R, D)
        if self.gate is not None:
            context = torch.sigmoid(self.gate(hidden)) * context  # β_t (B, R, 1) scales the whole context
        return context, log_alpha, locations

    def recur(self, word_gates: torch.Tensor, context: torch.Tensor, hidden: torch.Tensor,
              cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. 1–3 with T's word term (and bias) precomputed: (N, 4H), (N, D), (N, H), (N, H) → h_t, c_t."""
        gates = word_gates + self.context_to_gates(context) + self.hidden_to_gates(hidden)  # (N, 4H)
        return lstm_update(gates, cell)

    def logits(self, previous_words: torch.Tensor, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Eq. 7, n = L_o tanh(E y_{t-1} + L_h h_t + L_z ẑ_t), with dropout on h_t and on the tanh layer as in arctic.

        previous_words (N, E), hidden (N, H), context (N, D) → logits (N, V)."""
        if not self.config.deep_output:
            return self.out_vocab(self.dropout(hidden))
        deep = previous_words + self.out_hidden(self.dropout(hidden)) + self.out_context(context)  # (N, E)
        return self.out_vocab(self.dropout(torch.tanh(deep)))

    def decoding_mode(self) -> str:
        """How ``step`` attends: the expected context, or for hard attention the configured test-time rule (§4.1)."""
        return "expected" if self.config.attention == "soft" else self.config.test_attention

    # ------------------------------------------------------------------------------------------- decoding interface

    def init_state(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decoding state: h, c (B·R, H) for R rows per image, and once per image the annotations (B, L, D) and
        W_a a (B, L, A). R = 1 here; ``select_state`` widens it for beam search."""
        hidden, cell = self.initial_state(features)
        return {"h": hidden, "c": cell, "annotations": features,
                "projected": self.attention.project_annotations(features)}

    def step(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """tokens (B·R,) → log p(y_t | ·) (B·R, V), the new state, α_t (B·R, L)."""
        annotations, projected, hidden, cell = state["annotations"], state["projected"], state["h"], state["c"]
        images, rows = annotations.size(0), hidden.size(0) // annotations.size(0)
        words = self.embedding(tokens)  # (B·R, E)
        context, log_alpha, _ = self.attend(annotations, projected, hidden.view(images, rows, -1), self.decoding_mode())
        context = context.reshape(hidden.size(0), -1)  # (B·R, D)
        hidden, cell = self.recur(self.word_to_gates(words), context, hidden, cell)
        log_probs = torch.log_softmax(self.logits(words, hidden, context), dim=-1)  # (B·R, V)
        new_state = {"h": hidden, "c": cell, "annotations": annotations, "projected": projected}
        return log_probs, new_state, log_alpha.exp().reshape(hidden.size(0), -1)

    def select_state(self, state: dict[str, torch.Tensor],  # type: ignore[override]
                     index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rows ``index`` (N',) of the state.

        The annotations are stored once per image and shared by its R rows. When the new rows still come in equal,
        contiguous groups from one image each (beam search widens each image to K rows, reorders beams within an
        image, drops finished images), only the images are selected; otherwise every row gets its own copy (R = 1).
        """
        image_of_row = index // (state["h"].size(0) // state["annotations"].size(0))  # (N',) image of each new row
        rows_per_image = max(int((image_of_row == image_of_row[:1]).sum()), 1)
        groups = image_of_row.view(-1, rows_per_image) if len(index) % rows_per_image == 0 else None  # (N'/R, R)
        if groups is None or not bool((groups == groups[:, :1]).all()):
            groups = image_of_row.unsqueeze(1)  # (N', 1)
        images = groups[:, 0]  # (N'/R,)
        annotations, projected = state["annotations"], state["projected"]
        if not torch.equal(images, torch.arange(len(annotations), device=images.device)):
            annotations, projected = annotations.index_select(0, images), projected.index_select(0, images)
        return {"h": state["h"].index_select(0, index), "c": state["c"].index_select(0, index),
                "annotations": annotations, "projected": projected}

    # ------------------------------------------------------------------------------------------ teacher forcing

    def teacher_forcing_mode(self) -> str:
        """Soft: the expected context. Hard, training: a sample, or with probability ``expected_prob`` (one coin per
        minibatch, as arctic's ``semi_sampling_p``) the expected context. Hard, evaluation: the test-time rule."""
        if self.config.attention == "soft":
            return "expected"
        if not self.training:
            return self.config.test_attention
        return "expected" if torch.rand(()).item() < self.config.expected_prob else "sample"

    def forward(self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor,
                locations: torch.Tensor | None = None) -> TeacherForced:
        """Teacher-forced pass over features (B, L, D), captions (B, T+1), lengths (B,).

        ``locations`` (B, T) forces the hard-attention path s (exact gradients in tests); otherwise
        ``teacher_forcing_mode`` decides how to attend."""
        inputs, targets, mask = teacher_forcing(captions, lengths)  # (B, T) each
        mode = "given" if locations is not None else self.teacher_forcing_mode()
        projected = self.attention.project_annotations(features)  # (B, L, A), once per image
        words = self.embedding(inputs)  # (B, T, E)
        word_gates = self.word_to_gates(words)  # (B, T, 4H), every step at once
        hidden, cell = self.initial_state(features)  # (B, H) each
        hiddens, contexts, log_alphas, chosen = [], [], [], []
        for t in range(inputs.size(1)):
            given = locations[:, t: t + 1] if locations is not None else None  # (B, 1)
            context, log_alpha, where = self.attend(features, projected, hidden.unsqueeze(1), mode, given)
            context = context.squeeze(1)  # (B, D)
            hidden, cell = self.recur(word_gates[:, t], context, hidden, cell)
            hiddens.append(hidden)
            contexts.append(context)
            log_alphas.append(log_alpha.squeeze(1))
            chosen.append(where)
        hiddens, contexts = torch.stack(hiddens, dim=1), torch.stack(contexts, dim=1)  # (B, T, H), (B, T, D)
        logits = self.logits(words[mask], hiddens[mask], contexts[mask])  # (N, V), real words only
        nll, loss = caption_losses(logits, targets, mask, self.config.label_smoothing)  # (B,) each
        return TeacherForced(
            caption_nll=nll,
            caption_loss=loss,
            mask=mask,
            log_alpha=torch.stack(log_alphas, dim=1),  # (B, T, L)
            locations=None if mode == "expected" else torch.cat(chosen, dim=1),  # (B, T)
        )

    def loss(self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor) -> LossOutput:
        """Mean over captions of −log p(y|a) + λ Σ_i (τ − Σ_t α_ti)² (Eq. 14), plus, for hard attention in training,
        the REINFORCE surrogate of ``reinforce_surrogate``. ``nll`` is per word, for logging and perplexity. With
        ``label_smoothing`` the first term is its smoothed form; ``nll`` and the REINFORCE reward stay −log p(y|a)."""
        out = self(features, captions, lengths)
        words_per_caption = out.mask.sum(dim=1)  # (B,)
        penalty = doubly_stochastic_penalty(out.log_alpha.exp(), out.mask, self.config.doubly_stochastic_target)
        per_caption = out.caption_loss + self.config.doubly_stochastic * penalty  # (B,)
        metrics = {"doubly_stochastic": float(penalty.detach().mean())}
        if self.config.attention == "hard" and self.training:
            per_caption = per_caption + self.reinforce_surrogate(out, words_per_caption, metrics)
        num_words = int(words_per_caption.sum())
        return LossOutput(loss=per_caption.mean(), nll=out.caption_nll.detach().sum() / num_words,
                          num_words=num_words, metrics=metrics)

    def reinforce_surrogate(self, out: TeacherForced, words_per_caption: torch.Tensor,
                            metrics: dict[str, float]) -> torch.Tensor:
        """Per-caption surrogate whose gradient, added to that of −log p(y|s̃,a), is the learning rule of §4.1 (Eq. 12
        with baseline and entropy); also updates the baseline. Returns (B,).

        For one caption with sampled path s̃ (``out.locations``) the full per-caption loss is

            J = −log p(y|s̃,a) − λ_r ⟦R − b⟧ log p(s̃|a) − λ_e H[s̃]

        where ⟦·⟧ stops gradients, log p(s̃|a) = Σ_t log α_{t,s̃_t} and H[s̃] = −Σ_t Σ_i α_ti log α_ti (the entropy
        of the attention distributions met along the path, as arctic computes it), both over real steps. Hence

            −∂J/∂W = ∂log p(y|s̃,a)/∂W + λ_r (R − b) ∂log p(s̃|a)/∂W + λ_e ∂H[s̃]/∂W,

        the summand of the paper's rule, and the batch mean is its 1/N Σ_n. With R = log p(y|s̃,a)
        (``reward="caption"``), λ_r = 1, λ_e = 0 and a constant b this is an unbiased estimate of ∂L_s/∂W (Eq. 11):
        E_s[∂log p(s|a)/∂W] = 0, so the baseline adds no bias. arctic's defaults trade exactness for variance: R is
        the caption's mean per-word log-likelihood (``reward="word_mean"``), λ_r = 1/10, λ_e = 0.002, and
        b ← 0.9 b + 0.1 mean(R) after each batch.

        On an "expected" minibatch (``out.locations`` None) ẑ_t = Σ_i α_ti a_i is differentiated directly as in soft
        attention and the REINFORCE term is dropped: arctic still injects (b − cost)/10 · (−s/α) there, but with
        s = α that is the same constant for every location, which the softmax's Jacobian maps to zero.
        """
        config = self.config
        mask = out.mask.to(out.log_alpha.dtype)  # (B, T)
        alpha = out.log_alpha.exp()  # (B, T, L)
        entropy = (-(alpha * out.log_alpha).sum(dim=-1) * mask).sum(dim=1)  # (B,) H[s̃]
        surrogate = -config.entropy_weight * entropy
        log_likelihood = -out.caption_nll.detach()  # (B,) log p(y | s̃, a)
        reward = log_likelihood / words_per_caption if config.reward == "word_mean" else log_likelihood
        if out.locations is not None:
            chosen = out.log_alpha.gather(-1, out.locations.unsqueeze(-1)).squeeze(-1)  # (B, T) log α_{t,s̃_t}
            log_p_path = (chosen * mask).sum(dim=1)  # (B,) log p(s̃ | a)
            surrogate = surrogate - config.reinforce_scale * (reward - self.baseline) * log_p_path
        metrics.update({"reward": float(reward.mean()), "baseline": float(self.baseline),
                        "attention_entropy": float(entropy.detach().mean()),
                        "expected_attention": float(out.locations is None)})
        with torch.no_grad():
            self.baseline.mul_(config.baseline_decay).add_((1.0 - config.baseline_decay) * reward.mean())
        return surrogate
