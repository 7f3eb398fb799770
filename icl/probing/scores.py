"""Scalar metrics of a model's outputs, for patching and attribution.

Each returns one number averaged over the batch, so it can be
differentiated (attribution patching) and compared across patched runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def logit_difference(logits_BTV: jax.Array, correct_B: jax.Array,
                     wrong_B: jax.Array, position: int = -1) -> jax.Array:
  """Mean over the batch of logit[correct] - logit[wrong] at ``position``."""
  logits_BV = logits_BTV[:, position]
  pick = lambda tokens_B: jnp.take_along_axis(
      logits_BV, jnp.asarray(tokens_B)[:, None], axis=-1)[:, 0]
  return jnp.mean(pick(correct_B) - pick(wrong_B))


def mse(outputs_BT: jax.Array, targets_BT: jax.Array,
        mask_BT: jax.Array | None = None) -> jax.Array:
  """Mean squared error over the masked entries (regression models)."""
  err_BT = jnp.square(outputs_BT - targets_BT)
  if mask_BT is None:
    return jnp.mean(err_BT)
  mask_BT = mask_BT.astype(err_BT.dtype)
  return jnp.sum(err_BT * mask_BT) / jnp.maximum(jnp.sum(mask_BT), 1.0)


def normalized(value, clean, corrupted):
  """0 at the corrupted run's metric, 1 at the clean run's (Wang et al.'s
  normalised patching score)."""
  return (value - corrupted) / (clean - corrupted)
