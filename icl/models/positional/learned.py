"""Learned absolute position embeddings (GPT-2 style)."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models.positional.base import PositionalEncoding


class LearnedPositionalEncoding(PositionalEncoding):

  @nn.compact
  def embed(self, x_BTD: jax.Array, positions_BT: jax.Array) -> jax.Array:
    table_PD = self.param(
        "pos_embedding",
        nn.with_logical_partitioning(nn.initializers.normal(0.02),
                                     (None, "embed")),
        (self.config.max_len, self.config.d_model),
        self.config.param_dtype,
    )
    # Gather from a whole table, as FSDP all-gathers any weight before use: a
    # table split along embed would make the batch-sharded lookup fall back
    # to replicating its output (XLA warns of a full rematerialization).
    table_PD = nn.with_logical_constraint(table_PD, (None, None))
    return x_BTD + jnp.take(table_PD, positions_BT, axis=0).astype(x_BTD.dtype)

  @classmethod
  def max_positions(cls, config) -> int:
    return config.max_len
