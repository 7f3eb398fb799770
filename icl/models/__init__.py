"""Models: the decoder-only transformer and its positional encodings."""

from icl.models.config import ModelConfig, section
from icl.models.transformer import Transformer, TransformerConfig

__all__ = ["ModelConfig", "Transformer", "TransformerConfig", "build",
           "section"]


def build(model_cfg, task) -> Transformer:
  """The model for a ``config.model`` section and a task."""
  return ModelConfig.from_config(model_cfg).build(task)
