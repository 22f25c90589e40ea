"""Caption generators: Show, Attend and Tell (soft and hard attention), and the Show and Tell and multimodal RNN
baselines."""
from .base import CaptionModel, LossOutput
from .baselines import MultimodalRNN, ShowAndTell
from .config import ModelConfig, build_model
from .show_attend_tell import ShowAttendTell

__all__ = ["CaptionModel", "LossOutput", "ModelConfig", "MultimodalRNN", "ShowAndTell", "ShowAttendTell",
           "build_model"]
