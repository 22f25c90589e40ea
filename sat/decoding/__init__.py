"""Turning a caption model into captions: greedy decoding, sampling and batched beam search, from one view of each
image or from the image and its mirror image (:mod:`.views`)."""
from .beam_search import beam_search
from .core import Hypothesis
from .sampling import greedy, sample
from .views import ViewMean, with_mirror

__all__ = ["Hypothesis", "ViewMean", "beam_search", "greedy", "sample", "with_mirror"]
