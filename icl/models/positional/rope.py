"""Rotary position embeddings (Su et al. 2021).

Each pair of query/key channels (i, i + K/2) is rotated by the angle
``position * theta_i`` with ``theta_i = base^(-2i/K)``. The dot product of a
rotated query and key then depends only on their position difference.
"""

import jax
import jax.numpy as jnp

from icl.models.positional.base import PositionalEncoding

BASE = 10000.0


def frequencies(head_dim: int, base: float = BASE) -> jax.Array:
  """theta_i for i < K/2, [K/2]."""
  return base ** (-jnp.arange(head_dim // 2, dtype=jnp.float32) * 2 / head_dim)


def rotate_pairs(x_BTHK: jax.Array, angles_BTF: jax.Array) -> jax.Array:
  """Rotates channel pairs (i, i + K/2) by ``angles`` (F = K/2)."""
  half = x_BTHK.shape[-1] // 2
  x1, x2 = x_BTHK[..., :half], x_BTHK[..., half:2 * half]
  cos = jnp.cos(angles_BTF)[:, :, None, :].astype(x_BTHK.dtype)
  sin = jnp.sin(angles_BTF)[:, :, None, :].astype(x_BTHK.dtype)
  rotated = [x1 * cos - x2 * sin, x1 * sin + x2 * cos]
  return jnp.concatenate(rotated + [x_BTHK[..., 2 * half:]], axis=-1)


def angles(positions_BT: jax.Array, head_dim: int) -> jax.Array:
  return positions_BT[..., None].astype(jnp.float32) * frequencies(head_dim)


class RotaryPositionalEncoding(PositionalEncoding):

  def rotate(self, q_BTHK, k_BTHK, positions_BT):
    angles_BTF = angles(positions_BT, q_BTHK.shape[-1])
    return rotate_pairs(q_BTHK, angles_BTF), rotate_pairs(k_BTHK, angles_BTF)
