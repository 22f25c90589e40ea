"""Turning a caption model into captions: greedy decoding, sampling and batched beam search, from one view of each
image or from the image and its mirror image (:mod:`.views`), and over a whole split from the feature cache
(:mod:`.cached`)."""
from .beam_search import beam_search
from .cached import decode_cached
from .core import Hypothesis
from .sampling import greedy, sample
from .views import ViewMean, with_mirror

__all__ = ["Hypothesis", "ViewMean", "beam_search", "decode_cached", "greedy", "sample", "with_mirror"]
