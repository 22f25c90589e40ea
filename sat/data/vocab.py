"""Word vocabulary: built from training captions only, saved inside every checkpoint."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)


class Vocabulary:
    """A bijection between words and ids; ids 0..3 are ``<pad> <start> <end> <unk>``.

    >>> v = Vocabulary(["a", "dog"])
    >>> v.decode(v.encode(["a", "dog", "runs"]))
    ['a', 'dog', '<unk>']
    """

    pad_id, start_id, end_id, unk_id = 0, 1, 2, 3

    def __init__(self, words: Sequence[str], counts: dict[str, int] | None = None) -> None:
        self.itos: list[str] = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary words must be unique")
        self.counts: dict[str, int] = dict(counts or {})

    @classmethod
    def build(cls, captions: Iterable[Sequence[str]], min_count: int = 5) -> "Vocabulary":
        """Keep every token that occurs at least ``min_count`` times (paper: 5), most frequent first."""
        counter = Counter(tok for caption in captions for tok in caption)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        return cls(kept, {w: counter[w] for w in kept})

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def encode(self, tokens: Sequence[str], add_special: bool = True) -> list[int]:
        """Words to ids; unknown words become ``<unk>``; wrapped in ``<start> … <end>`` unless told otherwise."""
        ids = [self.stoi.get(tok, self.unk_id) for tok in tokens]
        return [self.start_id, *ids, self.end_id] if add_special else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids to words: skips ``<start>``/``<pad>`` and stops at the first ``<end>``."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i in (self.pad_id, self.start_id):
                continue
            words.append(self.itos[i])
        return words

    def to_dict(self) -> dict:
        return {"itos": self.itos, "counts": self.counts}

    @classmethod
    def from_dict(cls, state: dict) -> "Vocabulary":
        itos = state["itos"]
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}, got {tuple(itos[:4])}")
        return cls(itos[len(SPECIALS):], state.get("counts"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (ValueError, KeyError, TypeError) as err:  # ValueError covers JSONDecodeError and bad specials
            raise ValueError(f"{path}: not a sat vocabulary file ({err})") from None
