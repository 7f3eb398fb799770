"""Causal multi-head self-attention with positional-encoding hooks.

The attention module knows nothing about positions beyond calling the
encoding's ``rotate`` and ``bias`` hooks. The causal mask is built from the
sequence index, never from position ids: randomized or repeated position ids
must not change which tokens a query may see.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models.ops import ShapedDense, per_token
from icl.models.positional.base import PositionalEncoding

_NEG_INF = -1e30  # finite, so fully masked rows stay NaN-free


def causal_mask(seq_len: int) -> jax.Array:
  """[1, 1, T, T] boolean: query i may attend to key j iff j <= i."""
  return jnp.tril(jnp.ones((seq_len, seq_len), dtype=bool))[None, None]


class CausalSelfAttention(nn.Module):
  config: Any  # TransformerConfig
  positional: PositionalEncoding

  @nn.compact
  def __call__(self, x_BTD: jax.Array, positions_BT: jax.Array) -> jax.Array:
    cfg = self.config
    head_dim = cfg.d_model // cfg.num_heads

    def qkv(name):
      return per_token(ShapedDense((cfg.num_heads, head_dim), 1,
                                   ("embed", "heads", "kv"), ("heads", "kv"),
                                   cfg, name=name), x_BTD)

    q_BTHK, k_BTHK, v_BTHK = qkv("query"), qkv("key"), qkv("value")
    q_BTHK, k_BTHK = self.positional.rotate(q_BTHK, k_BTHK, positions_BT)

    scores_BHTT = jnp.einsum("bqhk,bshk->bhqs", q_BTHK, k_BTHK) / jnp.sqrt(
        head_dim).astype(cfg.dtype)
    bias = self.positional.bias(positions_BT, positions_BT)
    if bias is not None:
      scores_BHTT = scores_BHTT + bias.astype(scores_BHTT.dtype)
    seq_len = x_BTD.shape[1]
    scores_BHTT = jnp.where(causal_mask(seq_len), scores_BHTT, _NEG_INF)
    self.sow("intermediates", "hook_attn_scores", scores_BHTT)
    # Softmax in float32 even under bfloat16: it is where low precision hurts.
    pattern_BHTT = jax.nn.softmax(scores_BHTT.astype(jnp.float32), axis=-1)
    self.sow("intermediates", "hook_pattern", pattern_BHTT)

    z_BTHK = jnp.einsum("bhqs,bshk->bqhk", pattern_BHTT.astype(cfg.dtype), v_BTHK)
    self.sow("intermediates", "hook_z", z_BTHK)
    return per_token(ShapedDense((cfg.d_model,), 2, ("heads", "kv", "embed"),
                                 ("embed",), cfg, name="out"), z_BTHK)
