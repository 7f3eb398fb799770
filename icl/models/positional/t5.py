"""T5 relative bias (Raffel et al. 2020), the causal (one-directional) form.

The distance n = i - j >= 0 falls in one of NUM_BUCKETS buckets: exact for
n < NUM_BUCKETS / 2, then logarithmically spaced up to MAX_DISTANCE, beyond
which everything shares the last bucket. Each head learns one scalar per
bucket. The table starts at zero (no positional signal at initialization).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models.positional.base import PositionalEncoding

NUM_BUCKETS = 32
MAX_DISTANCE = 128


def bucket(distance: jax.Array, num_buckets: int = NUM_BUCKETS,
           max_distance: int = MAX_DISTANCE) -> jax.Array:
  """Bucket index (int32) of a non-negative query-minus-key distance."""
  distance = jnp.maximum(distance, 0)
  max_exact = num_buckets // 2
  # The float log is evaluated at >= max_exact only, to stay finite.
  log_ratio = jnp.log(jnp.maximum(distance, max_exact) / max_exact) / jnp.log(
      max_distance / max_exact)
  far = max_exact + (log_ratio * (num_buckets - max_exact)).astype(jnp.int32)
  far = jnp.minimum(far, num_buckets - 1)
  return jnp.where(distance < max_exact, distance, far).astype(jnp.int32)


class T5PositionalEncoding(PositionalEncoding):

  @nn.compact
  def bias(self, q_positions_BQ, k_positions_BS):
    table_NH = self.param(
        "relative_bias",
        nn.with_logical_partitioning(nn.initializers.zeros, (None, "heads")),
        (NUM_BUCKETS, self.config.num_heads), self.config.param_dtype)
    d_BQS = q_positions_BQ[:, :, None] - k_positions_BS[:, None, :]
    bias_BQSH = jnp.take(table_NH, bucket(d_BQS), axis=0)
    return jnp.transpose(bias_BQSH, (0, 3, 1, 2)).astype(jnp.float32)
