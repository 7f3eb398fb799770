"""ALiBi (Press et al. 2022): a fixed linear penalty on distance.

The logit of query i for key j drops by ``m_h * (i - j)``. For H a power of
two the slopes are m_h = 2^(-8h/H), h = 1..H; otherwise the paper's rule
takes the slopes for the next lower power of two n and fills in every other
slope of 2n.
"""

import math

import jax.numpy as jnp

from icl.models.positional.base import PositionalEncoding, distance


def slopes(num_heads: int) -> list[float]:
  def power_of_two(n):
    return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]
  n = 2 ** math.floor(math.log2(num_heads))
  return power_of_two(n) + power_of_two(2 * n)[0::2][:num_heads - n]


class AlibiPositionalEncoding(PositionalEncoding):

  def bias(self, q_positions_BQ, k_positions_BS):
    m_H = jnp.asarray(slopes(self.config.num_heads), jnp.float32)
    return -m_H[None, :, None, None] * distance(q_positions_BQ, k_positions_BS)
