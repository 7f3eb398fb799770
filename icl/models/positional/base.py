"""The interface every positional encoding implements.

An encoding may act in up to three places, and the model calls all three on
every encoding. The defaults do nothing, so an encoding overrides only the
hooks it needs:

- ``embed``: added to the input embeddings (learned, sinusoidal, Abacus).
- ``rotate``: applied to queries and keys (RoPE, xPos).
- ``bias``: added to the attention logits (ALiBi, T5, FIRE, KERPLE).

Positions are always passed in as data; an encoding never derives them from
array shapes, so randomized or task-specific position ids need no model change.
One instance is shared by every layer, so a learned relative bias is one set
of parameters for the whole model.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class PositionalEncoding(nn.Module):
  """Base class: no positional signal at all (the causal mask remains)."""

  config: Any  # TransformerConfig; typed loosely to avoid an import cycle.

  # What the position ids must count: "tokens" for every encoding that
  # works on any ids; a task declares what its ids count
  # (``Task.position_ids``), and the two must agree.
  reads = "tokens"
  # Which config gives ids of that kind, for the error when they differ.
  reads_from = ""

  def embed(self, x_BTD: jax.Array, positions_BT: jax.Array) -> jax.Array:
    del positions_BT
    return x_BTD

  def rotate(self, q_BTHK: jax.Array, k_BTHK: jax.Array,
             positions_BT: jax.Array) -> tuple[jax.Array, jax.Array]:
    del positions_BT
    return q_BTHK, k_BTHK

  def bias(self, q_positions_BQ: jax.Array,
           k_positions_BS: jax.Array) -> jax.Array | None:
    """Additive attention-logit bias, [B, H, Q, S] (or broadcastable)."""
    del q_positions_BQ, k_positions_BS
    return None

  @classmethod
  def max_positions(cls, config: Any) -> int | None:
    """Largest position id + 1 this encoding can represent (None: unbounded).

    A classmethod so that configs can be validated before any module exists.
    """
    del config
    return None


def distance(q_positions_BQ: jax.Array, k_positions_BS: jax.Array
             ) -> jax.Array:
  """Query-minus-key position, [B, 1, Q, S] float32, clipped at 0.

  Under the causal mask only keys at or before the query count, so the
  clip changes nothing that is seen; it keeps masked entries finite.
  """
  d = (q_positions_BQ[:, None, :, None] - k_positions_BS[:, None, None, :])
  return jnp.maximum(d, 0).astype(jnp.float32)


def softplus_inverse(y: float) -> float:
  """x with softplus(x) = y: initializes positive parameters at y."""
  return math.log(math.expm1(y))
