"""KERPLE, logarithmic variant (Chi et al. 2022).

    bias_h(i, j) = -p_h * log(1 + a_h * |i - j|),   p_h, a_h > 0 learned.

Both are kept positive through a softplus and start at 1, so the bias is
strictly decreasing in distance for every parameter value.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models.positional.base import (PositionalEncoding, distance,
                                        softplus_inverse)


class KerplePositionalEncoding(PositionalEncoding):

  @nn.compact
  def bias(self, q_positions_BQ, k_positions_BS):
    per_head = lambda name: jax.nn.softplus(self.param(
        name, nn.with_logical_partitioning(
            nn.initializers.constant(softplus_inverse(1.0)), ("heads",)),
        (self.config.num_heads,), jnp.float32))[None, :, None, None]
    p_1H11, a_1H11 = per_head("power"), per_head("scale")
    return -p_1H11 * jnp.log1p(a_1H11 * distance(q_positions_BQ,
                                                 k_positions_BS))
