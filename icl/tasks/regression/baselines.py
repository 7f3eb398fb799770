"""Exact in-context regression estimators, for every prefix in one call.

Each function takes a context ``x [B, K, D]``, ``y [B, K]`` and returns the
prediction of y_k from (x_1..x_{k-1}, y_1..y_{k-1}) and x_k, for all k at
once: ``[B, K]``. The k = 1 prediction (empty context) is the prior mean:
0 for ridge and least squares, x_1 . mean(pool) for dMMSE.

No Python loop over positions: prefix statistics are exclusive cumulative sums
(ridge, dMMSE) or a masked design matrix (least squares). An exclusive sum is
the inclusive one shifted by a position, never ``cumsum(a) - a``: that
subtraction cancels when a_k is large, and leaks y_k into the prediction of
y_k. All arithmetic is
float32 at the highest matmul precision.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_HIGHEST = jax.lax.Precision.HIGHEST
_MIN_NOISE_VAR = 1e-12


def _exclusive_cumsum(a, axis):
  """Sum over the strictly earlier entries along ``axis``."""
  total = jnp.cumsum(a, axis=axis)
  zero = jnp.zeros_like(jax.lax.slice_in_dim(total, 0, 1, axis=axis))
  earlier = jax.lax.slice_in_dim(total, 0, a.shape[axis] - 1, axis=axis)
  return jnp.concatenate([zero, earlier], axis=axis)


def _prefix_sum(a, axis, inclusive):
  return jnp.cumsum(a, axis=axis) if inclusive else _exclusive_cumsum(a, axis)


def xty(x_BKD: jax.Array, y_BK: jax.Array,
        inclusive: bool = False) -> jax.Array:
  """X^T y of each prefix, [B, K, D]: pairs j < k (j <= k if inclusive)."""
  return _prefix_sum(x_BKD * y_BK[..., None], 1, inclusive)


def ridge_weights(x_BKD: jax.Array, y_BK: jax.Array, lam: float,
                  inclusive: bool = False) -> jax.Array:
  """The ridge weight vector of each prefix, [B, K, D] (see ``xty``)."""
  if lam == 0:
    return least_squares_weights(x_BKD, y_BK, inclusive)
  d = x_BKD.shape[-1]
  outer_BKDD = jnp.einsum("bkd,bke->bkde", x_BKD, x_BKD, precision=_HIGHEST)
  gram_BKDD = _prefix_sum(outer_BKDD, 1, inclusive) + lam * jnp.eye(d)
  return jnp.linalg.solve(gram_BKDD,
                          xty(x_BKD, y_BK, inclusive)[..., None])[..., 0]


def least_squares_weights(x_BKD: jax.Array, y_BK: jax.Array,
                          inclusive: bool = False) -> jax.Array:
  """Minimum-norm least squares of each prefix, pinv(X_prefix) y_prefix.

  Rows outside the prefix are zeroed, which leaves the minimum-norm
  solution unchanged; this turns K prefix problems into one batched pinv.
  """
  k = x_BKD.shape[1]
  prefix_KK = jnp.tril(jnp.ones((k, k), x_BKD.dtype), 0 if inclusive else -1)
  x_BKKD = prefix_KK[None, :, :, None] * x_BKD[:, None, :, :]
  y_BKK = prefix_KK[None] * y_BK[:, None, :]
  return jnp.einsum("bkdj,bkj->bkd", jnp.linalg.pinv(x_BKKD), y_BKK,
                    precision=_HIGHEST)


def ridge(x_BKD: jax.Array, y_BK: jax.Array, lam: float) -> jax.Array:
  """Ridge with penalty ``lam`` (= sigma^2 / tau^2: the Bayes posterior mean).

  ``lam = 0`` (noiseless data) is the limit lam -> 0: min-norm least squares.
  """
  return jnp.einsum("bkd,bkd->bk", x_BKD, ridge_weights(x_BKD, y_BK, lam),
                    precision=_HIGHEST)


def least_squares(x_BKD: jax.Array, y_BK: jax.Array) -> jax.Array:
  """Minimum-norm least squares: pinv(X_{<k}) y_{<k}."""
  return jnp.einsum("bkd,bkd->bk", x_BKD, least_squares_weights(x_BKD, y_BK),
                    precision=_HIGHEST)


def dmmse(x_BKD: jax.Array, y_BK: jax.Array, pool_MD: jax.Array,
          noise_var: float) -> jax.Array:
  """Posterior mean under the uniform prior over the pool's M task vectors.

  alpha_i = -sum_{j<k} (y_j - w_i.x_j)^2 / (2 sigma^2);
  w_hat = sum_i softmax(alpha)_i w_i;  y_hat_k = x_k . w_hat.
  Memory is O(B K M); see ``in_chunks`` for large pools. ``noise_var = 0``
  is taken as a vanishing variance: the posterior keeps only the tasks that
  fit the context exactly.
  """
  noise_var = jnp.maximum(noise_var, _MIN_NOISE_VAR)
  pred_BKM = jnp.einsum("bkd,md->bkm", x_BKD, pool_MD, precision=_HIGHEST)
  sq_err_BKM = jnp.square(y_BK[..., None] - pred_BKM)
  log_w_BKM = -_exclusive_cumsum(sq_err_BKM, axis=1) / (2 * noise_var)
  posterior_BKM = jax.nn.softmax(log_w_BKM, axis=-1)
  # x_k . w_hat = sum_i posterior_i (w_i . x_k): reuse pred_BKM.
  return jnp.sum(posterior_BKM * pred_BKM, axis=-1)


def in_chunks(fn, *arrays, chunk_size: int):
  """Applies ``fn`` over the batch axis in chunks of ``chunk_size`` (bounded
  memory for dMMSE with large pools). The batch must divide evenly."""
  b = arrays[0].shape[0]
  if b % chunk_size:
    raise ValueError(f"batch {b} is not a multiple of chunk {chunk_size}")
  chunked = [a.reshape((b // chunk_size, chunk_size) + a.shape[1:])
             for a in arrays]
  out = jax.lax.map(lambda args: fn(*args), chunked)
  return out.reshape((b,) + out.shape[2:])
