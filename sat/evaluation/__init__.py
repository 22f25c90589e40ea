"""Caption evaluation: the coco-caption scores (BLEU-1..4, METEOR, ROUGE-L, CIDEr) and ``sat evaluate``."""
from .evaluate import decode_split, evaluate_checkpoint, results_json
from .metrics import METRICS, SCORE_NAMES, score_captions
from .tokenizer import JavaNotFoundError, ptb_tokenize, simple_tokenize

__all__ = ["score_captions", "METRICS", "SCORE_NAMES", "decode_split", "evaluate_checkpoint", "results_json",
           "JavaNotFoundError", "ptb_tokenize", "simple_tokenize"]
