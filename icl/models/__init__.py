"""Models: the decoder-only transformer and its positional encodings."""

from icl.models.transformer import Transformer, TransformerConfig, init_params

__all__ = ["Transformer", "TransformerConfig", "build", "init_params"]


def build(model_cfg, task) -> Transformer:
  """The model for a validated ``config.model`` section and a task."""
  from icl.models.transformer import DTYPES
  return Transformer(TransformerConfig(
      num_layers=model_cfg.num_layers,
      d_model=model_cfg.d_model,
      num_heads=model_cfg.num_heads,
      mlp_ratio=model_cfg.mlp_ratio,
      positional=model_cfg.positional,
      max_len=model_cfg.max_len,
      length_temperature=model_cfg.get("length_temperature", 0.0),
      learn_temperature=model_cfg.get("learn_temperature", False),
      input_kind=task.input_kind,
      input_dim=task.input_dim,
      vocab_size=task.vocab_size,
      head=task.head,
      dropout_rate=model_cfg.dropout_rate,
      kernel_init=model_cfg.kernel_init,
      dtype=DTYPES[model_cfg.dtype],
  ))
