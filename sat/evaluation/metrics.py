"""Caption metrics with the coco-caption scorer (``pycocoevalcap``): BLEU-1..4, METEOR, ROUGE-L and CIDEr(-D).

All scores are fractions (multiply by 100 for the paper's tables). References and candidates are tokenised together by
the PTB tokenizer (Java) unless ``fast=True``, which uses :func:`~sat.data.records.tokenize` instead — pure Python,
for validation during training; METEOR always runs on Java.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .tokenizer import JavaNotFoundError, ptb_tokenize, require_java, simple_tokenize

METRICS = ("Bleu", "METEOR", "ROUGE_L", "CIDEr")
SCORE_NAMES = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def _check(references: Mapping[str, Sequence[str]], candidates: Mapping[str, str], metrics: Sequence[str]) -> None:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}: expected some of {list(METRICS)}")
    if not candidates:
        raise ValueError("no candidate captions to score")
    missing = [key for key in candidates if not references.get(key)]
    if missing:
        raise ValueError(f"{len(missing)} candidate(s) have no reference captions, e.g. {missing[0]!r}")
    if not all(isinstance(text, str) for text in candidates.values()):
        raise ValueError("each candidate must be one caption string")


def tokenize_all(references: Mapping[str, Sequence[str]], candidates: Mapping[str, str], fast: bool = False
                 ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Tokenise references and candidates in one pass → ``(gts, res)`` in pycocoevalcap's form (lists of strings)."""
    keys = list(candidates)
    sentences = [candidates[k] for k in keys] + [ref for k in keys for ref in references[k]]
    tokens = (simple_tokenize if fast else ptb_tokenize)(sentences)
    res = {k: [tokens[i]] for i, k in enumerate(keys)}
    gts, position = {}, len(keys)
    for k in keys:
        gts[k] = tokens[position:position + len(references[k])]
        position += len(references[k])
    return gts, res


def _scorer(name: str) -> Any:
    if name == "Bleu":
        from pycocoevalcap.bleu.bleu import Bleu

        return Bleu(4)
    if name == "METEOR":
        require_java("METEOR")
        from pycocoevalcap.meteor.meteor import Meteor

        return Meteor()
    if name == "ROUGE_L":
        from pycocoevalcap.rouge.rouge import Rouge

        return Rouge()
    from pycocoevalcap.cider.cider import Cider

    return Cider()


def _meteor(gts: dict[str, list[str]], res: dict[str, list[str]]) -> float:
    """METEOR 1.5 (Java), with a readable error if its process dies instead of a hang or a parse error."""
    scorer = _scorer("METEOR")
    try:
        score, _ = scorer.compute_score(gts, res)
    except (ValueError, BrokenPipeError, OSError) as err:
        process = scorer.meteor_p
        process.kill()
        try:
            process.stdin.close()  # now, quietly: Meteor.__del__ would report the broken pipe
        except OSError:
            pass
        if scorer.lock.locked():  # compute_score raised while holding it; Meteor.__del__ would wait for it forever
            scorer.lock.release()
        stderr = " ".join(process.stderr.read().decode("utf-8", "replace").split())[-300:]
        raise RuntimeError(f"METEOR (Java) failed: {stderr or err}") from None
    finally:
        del scorer  # stops the Java process
    return float(score)


def score_captions(references: Mapping[str, Sequence[str]], candidates: Mapping[str, str],
                   metrics: Sequence[str] = METRICS, fast: bool = False) -> dict[str, float]:
    """Corpus scores of ``candidates`` (key → one caption) against ``references`` (key → raw reference captions).

    Only the candidates' keys are scored (each needs references); CIDEr's document frequencies come from their
    references, as in coco-caption. Returns a subset of :data:`SCORE_NAMES` → fraction, e.g. ``{"Bleu_4": 0.195}``.
    ``fast=True`` skips the PTB tokenizer (no Java unless METEOR is asked for).
    """
    _check(references, candidates, metrics)
    if not fast or "METEOR" in metrics:
        require_java("the coco-caption scorer (PTB tokenizer, METEOR)" if not fast else "METEOR")
    gts, res = tokenize_all(references, candidates, fast=fast)
    scores: dict[str, float] = {}
    for name in metrics:
        if name == "METEOR":
            scores["METEOR"] = _meteor(gts, res)
        elif name == "Bleu":
            values, _ = _scorer("Bleu").compute_score(gts, res, verbose=0)
            scores.update({f"Bleu_{n}": float(v) for n, v in enumerate(values, start=1)})
        else:
            score, _ = _scorer(name).compute_score(gts, res)
            scores[name] = float(score)
    return {name: scores[name] for name in SCORE_NAMES if name in scores}


__all__ = ["METRICS", "SCORE_NAMES", "score_captions", "tokenize_all", "JavaNotFoundError"]
