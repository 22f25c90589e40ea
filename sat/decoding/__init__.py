"""Turning a caption model into captions: greedy decoding, sampling and batched beam search."""
from .beam_search import beam_search
from .core import Hypothesis
from .sampling import greedy, sample

__all__ = ["Hypothesis", "beam_search", "greedy", "sample"]
