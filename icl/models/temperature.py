"""Length-dependent attention temperature.

Query i of a causal decoder sees n = i + 1 keys; its logits are scaled by
``1 + beta * log n`` (Awasthi & Gupta 2023 report that a length-dependent
softmax temperature helps length generalization). As n grows the softmax
sharpens, which counters the dilution of attention over more keys. n counts
the keys the query sees, taken from sequence indices and not position ids,
so cached decoding and a full pass agree and padding after a query does not
change it. beta is fixed, or learned per head starting from the configured
value.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class LengthTemperature(nn.Module):
  config: Any  # TransformerConfig: length_temperature, learn_temperature

  @nn.compact
  def __call__(self, query_index_Q: jax.Array) -> jax.Array:
    """Scale per head and query, [1, H, Q, 1] (or [1, 1, Q, 1] when fixed)."""
    cfg = self.config
    beta = jnp.float32(cfg.length_temperature)
    if cfg.learn_temperature:
      beta = self.param(
          "beta", nn.with_logical_partitioning(
              nn.initializers.constant(cfg.length_temperature), ("heads",)),
          (cfg.num_heads,), jnp.float32)[None, :, None, None]
    log_n_11Q1 = jnp.log1p(query_index_Q.astype(jnp.float32))[None, None, :,
                                                               None]
    return 1.0 + beta * log_n_11Q1
