"""FIRE (Li et al. 2023): a learned function of the *relative* distance.

    bias_h(i, j) = f_theta(psi(i - j) / psi(max(L, i)))_h,
    psi(x) = log(c x + 1),

with f_theta an MLP 1 -> HIDDEN -> H (ReLU), and c > 0, L >= 1 learned. The
normalization by the query's own position maps every distance a query can
see into [0, 1], whatever the sequence length: the property that lets FIRE
extrapolate. c starts at 1 and L at 1 (normalize by the query position).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models.positional.base import (PositionalEncoding, distance,
                                        softplus_inverse)

HIDDEN = 32


class FirePositionalEncoding(PositionalEncoding):

  @nn.compact
  def bias(self, q_positions_BQ, k_positions_BS):
    cfg = self.config
    scalar = lambda name, value: self.param(
        name, nn.with_logical_partitioning(
            nn.initializers.constant(softplus_inverse(value)), ()),
        (), jnp.float32)
    c = jax.nn.softplus(scalar("c", 1.0))
    threshold = 1.0 + jax.nn.softplus(scalar("threshold", 1e-3))  # L >= 1
    psi = lambda x: jnp.log1p(c * x)
    query_B1Q1 = q_positions_BQ[:, None, :, None].astype(jnp.float32)
    ratio_B1QS = psi(distance(q_positions_BQ, k_positions_BS)) / psi(
        jnp.maximum(threshold, query_B1Q1))
    hidden = nn.Dense(HIDDEN, name="mlp_in", param_dtype=cfg.param_dtype,
                      kernel_init=nn.with_logical_partitioning(
                          nn.initializers.lecun_normal(), (None, None)),
                      bias_init=nn.with_logical_partitioning(
                          nn.initializers.zeros, (None,)))
    out = nn.Dense(cfg.num_heads, name="mlp_out", param_dtype=cfg.param_dtype,
                   kernel_init=nn.with_logical_partitioning(
                       nn.initializers.lecun_normal(), (None, "heads")),
                   bias_init=nn.with_logical_partitioning(
                       nn.initializers.zeros, ("heads",)))
    bias_BQSH = out(nn.relu(hidden(ratio_B1QS[:, 0, :, :, None])))
    return jnp.transpose(bias_BQSH, (0, 3, 1, 2)).astype(jnp.float32)
