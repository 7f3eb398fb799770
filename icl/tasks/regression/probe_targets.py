"""What a regression model might compute in context: targets for probes
(``icl.probing.probes``) read at the model's residual stream."""

from __future__ import annotations

import jax

from icl.tasks.regression import baselines


def regression_targets(x_BKD: jax.Array, y_BK: jax.Array, lam: float,
                       inclusive: bool = True) -> dict[str, jax.Array]:
  """Per context prefix [B, K, D]: the OLS (min-norm) and ridge (penalty
  ``lam``) weight vectors and X^T y, of pairs 1..k (``inclusive``, what a
  model has seen at y_k's token) or 1..k-1 (at x_k's token)."""
  return {"ols": baselines.least_squares_weights(x_BKD, y_BK, inclusive),
          "ridge": baselines.ridge_weights(x_BKD, y_BK, lam, inclusive),
          "xty": baselines.xty(x_BKD, y_BK, inclusive)}
