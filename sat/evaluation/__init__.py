"""Caption evaluation: the coco-caption scores (BLEU-1..4, METEOR, ROUGE-L, CIDEr), their bootstrap intervals and
``sat evaluate``."""
from .bootstrap import bootstrap_intervals, image_statistics, paired_bootstrap
from .evaluate import decode_split, evaluate_checkpoint, results_json
from .metrics import METRICS, SCORE_NAMES, score_captions
from .tokenizer import JavaNotFoundError, ptb_tokenize, simple_tokenize

__all__ = ["score_captions", "METRICS", "SCORE_NAMES", "decode_split", "evaluate_checkpoint", "results_json",
           "JavaNotFoundError", "ptb_tokenize", "simple_tokenize", "bootstrap_intervals", "image_statistics",
           "paired_bootstrap"]
