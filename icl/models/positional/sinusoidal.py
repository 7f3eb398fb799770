"""Fixed sinusoidal position embeddings (Vaswani et al. 2017).

Defined for any position id, so there is no table to outgrow.
"""

import jax
import jax.numpy as jnp

from icl.models.positional.base import PositionalEncoding


def sinusoidal_table(positions_BT: jax.Array, dim: int) -> jax.Array:
  half = dim // 2
  inv_freq_F = 1.0 / (10000.0 ** (jnp.arange(half, dtype=jnp.float32) * 2 / dim))
  angles_BTF = positions_BT[..., None].astype(jnp.float32) * inv_freq_F
  emb_BTD = jnp.concatenate([jnp.sin(angles_BTF), jnp.cos(angles_BTF)], -1)
  if dim % 2:  # odd widths: pad the last channel
    emb_BTD = jnp.pad(emb_BTD, [(0, 0)] * (emb_BTD.ndim - 1) + [(0, 1)])
  return emb_BTD


class SinusoidalPositionalEncoding(PositionalEncoding):

  def embed(self, x_BTD: jax.Array, positions_BT: jax.Array) -> jax.Array:
    return x_BTD + sinusoidal_table(positions_BT, x_BTD.shape[-1]).astype(
        x_BTD.dtype)
