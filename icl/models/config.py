"""The ``model`` config section: its fields, defaults and checks.

The task supplies what the model reads and emits (input kind and width,
vocabulary, head); this section supplies the rest. The randomized-position
fields configure a batch transform (``icl.data.transforms``) that feeds the
positional encoding, so they sit with it here.
"""

from __future__ import annotations

import dataclasses

from icl import fields
from icl.errors import invalid
from icl.models import positional
from icl.models.ops import KERNEL_INITS
from icl.models.transformer import DTYPES, Transformer, TransformerConfig


_T = TransformerConfig  # the architecture's defaults are written there


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  num_layers: int = _T.num_layers
  d_model: int = _T.d_model
  num_heads: int = _T.num_heads
  mlp_ratio: int = _T.mlp_ratio
  positional: str = _T.positional  # see icl/models/positional
  max_len: int = _T.max_len  # rows of a position table; ids stay below it
  length_temperature: float = _T.length_temperature  # beta; 0 is off
  learn_temperature: bool = _T.learn_temperature
  randomized_positions: int = 0  # L_max (Ruoss et al. 2023); 0 is off
  randomized_positions_at_eval: bool = False
  dropout_rate: float = _T.dropout_rate
  kernel_init: str = _T.kernel_init  # or "gpt2": N(0, 0.02^2)
  dtype: str = "float32"  # or "bfloat16" (a name in DTYPES)

  @classmethod
  def from_config(cls, model_cfg) -> "ModelConfig":
    return fields.build(cls, model_cfg, "model", "the model")

  def validate(self) -> None:
    for name in ("num_layers", "d_model", "num_heads", "mlp_ratio",
                 "max_len"):
      fields.positive_int(f"model.{name}", getattr(self, name))
    if self.d_model % self.num_heads:
      raise invalid("model.num_heads", self.num_heads,
                    f"a divisor of model.d_model={self.d_model}")
    fields.one_of("model.positional", self.positional, positional.REGISTRY)
    fields.one_of("model.dtype", self.dtype, DTYPES)
    fields.one_of("model.kernel_init", self.kernel_init, KERNEL_INITS)
    fields.unit_interval("model.dropout_rate", self.dropout_rate)
    if not fields.is_number(self.length_temperature):
      raise invalid("model.length_temperature", self.length_temperature,
                    "a finite number (0 disables the length temperature)")
    for flag in ("learn_temperature", "randomized_positions_at_eval"):
      fields.boolean(f"model.{flag}", getattr(self, flag))
    fields.int_at_least("model.randomized_positions",
                        self.randomized_positions, 0, "an int >= 0 (L_max; "
                        "0 disables randomized positions)")
    if self.randomized_positions_at_eval and not self.randomized_positions:
      raise invalid("model.randomized_positions_at_eval", True,
                    "False unless model.randomized_positions is set")

  @property
  def encoding(self) -> type[positional.PositionalEncoding]:
    return positional.get(self.positional)

  def build(self, task) -> Transformer:
    """The model for this section and the facts ``task`` declares."""
    return Transformer(TransformerConfig(
        num_layers=self.num_layers, d_model=self.d_model,
        num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
        positional=self.positional, max_len=self.max_len,
        length_temperature=self.length_temperature,
        learn_temperature=self.learn_temperature,
        input_kind=task.input_kind, input_dim=task.input_dim,
        vocab_size=task.vocab_size, head=task.head,
        dropout_rate=self.dropout_rate, kernel_init=self.kernel_init,
        dtype=DTYPES[self.dtype]))


def section(**values):
  """A ``config.model`` section: every field's default, updated."""
  return fields.section(ModelConfig, **values)
