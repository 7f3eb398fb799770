"""Baselines for in-context function learning, for every prefix at once.

Each baseline maps a context ``x [B, K, D]``, ``y [B, K]`` to the
prediction of y_k from the pairs before k and x_k, for every k: ``[B, K]``.
With no pair before it (k = 1) every baseline predicts 0.

- Vectorized in JAX over batch and prefix (no Python loop over positions):
  least squares (the regression task's), averaging (w = mean of x_j y_j),
  k-nearest neighbours, Lasso (FISTA), and a two-layer ReLU network
  trained by Adam on each prefix. The tests check Lasso and nearest
  neighbours against scikit-learn, and the network against a Python loop
  of the same optimizer.
- From their libraries, one fit per prefix on the host: greedy decision
  trees (scikit-learn) and gradient-boosted trees (XGBoost), as Garg et
  al. used them. They need the ``baselines`` extra.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from icl.tasks.regression import baselines as regression_baselines

_HIGHEST = jax.lax.Precision.HIGHEST


def _earlier_KK(k: int) -> jax.Array:
  """[K, K] 1 where context point j comes before query k (j < k)."""
  return jnp.tril(jnp.ones((k, k)), -1)


def least_squares(x_BKD, y_BK):
  return regression_baselines.least_squares(x_BKD, y_BK)


def averaging(x_BKD, y_BK):
  """x_k . mean_{j<k} x_j y_j (Garg et al.'s averaging estimator)."""
  k = x_BKD.shape[1]
  total_BKD = regression_baselines.xty(x_BKD, y_BK)
  count_K1 = jnp.maximum(jnp.arange(k), 1)[:, None]
  return jnp.einsum("bkd,bkd->bk", x_BKD, total_BKD / count_K1,
                    precision=_HIGHEST)


def knn(x_BKD, y_BK, neighbours: int = 3):
  """The mean y of the ``neighbours`` earlier points nearest x_k in
  Euclidean distance (all earlier points while there are fewer)."""
  k = x_BKD.shape[1]
  d2_BKK = jnp.sum(jnp.square(x_BKD[:, :, None] - x_BKD[:, None]), -1)
  earlier_KK = _earlier_KK(k) > 0
  d2_BKK = jnp.where(earlier_KK, d2_BKK, jnp.inf)
  n = min(neighbours, k)
  _, nearest_BKN = jax.lax.top_k(-d2_BKK, n)
  valid_BKN = jnp.arange(n)[None, None] < jnp.arange(k)[None, :, None]
  y_BKN = jnp.take_along_axis(y_BK[:, None, :], nearest_BKN, axis=2)
  return jnp.sum(y_BKN * valid_BKN, -1) / jnp.maximum(
      jnp.sum(valid_BKN, -1), 1)


def lasso(x_BKD, y_BK, alpha: float, steps: int = 2000):
  """Lasso without intercept on every prefix, scikit-learn's objective
  (1 / 2n) |y - X w|^2 + alpha |w|_1 with n the prefix's size, solved by
  FISTA with a fixed number of ``steps`` (step 1 / L, L the largest
  eigenvalue of X^T X / n)."""
  b, k, d = x_BKD.shape
  mask_KK = _earlier_KK(k)
  n_K = jnp.maximum(jnp.arange(k), 1).astype(jnp.float32)
  # Prefix k's design is x masked to j < k: its Gram matrix and X^T y.
  gram_BKDD = jnp.einsum("kj,bjd,bje->bkde", mask_KK, x_BKD, x_BKD,
                         precision=_HIGHEST) / n_K[:, None, None]
  xty_BKD = jnp.einsum("kj,bjd,bj->bkd", mask_KK, x_BKD, y_BK,
                       precision=_HIGHEST) / n_K[:, None]
  lipschitz_BK = jnp.maximum(jnp.linalg.eigvalsh(gram_BKDD)[..., -1], 1e-12)
  step_BK1 = (1.0 / lipschitz_BK)[..., None]

  def shrink(v, t):
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - t, 0.0)

  def body(_, carry):
    w, z, t = carry
    grad = jnp.einsum("bkde,bke->bkd", gram_BKDD, z,
                      precision=_HIGHEST) - xty_BKD
    w_next = shrink(z - step_BK1 * grad, step_BK1 * alpha)
    t_next = (1 + jnp.sqrt(1 + 4 * t * t)) / 2
    z_next = w_next + ((t - 1) / t_next) * (w_next - w)
    return w_next, z_next, t_next

  zero = jnp.zeros((b, k, d))
  w_BKD, _, _ = jax.lax.fori_loop(0, steps, body,
                                  (zero, zero, jnp.float32(1.0)))
  # No earlier point: predict 0 (the prior mean), as scikit-learn cannot fit.
  return jnp.einsum("bkd,bkd->bk", x_BKD, w_BKD, precision=_HIGHEST) * (
      jnp.arange(k) > 0)


def net_init(key, d: int, hidden: int):
  """The two-layer ReLU network's initial parameters (PyTorch's default
  for Linear layers, as Garg et al.'s baseline)."""
  k1, k2, k3, k4 = jax.random.split(key, 4)
  bound1, bound2 = 1 / np.sqrt(d), 1 / np.sqrt(hidden)
  return {"w1": jax.random.uniform(k1, (d, hidden), minval=-bound1,
                                   maxval=bound1),
          "b1": jax.random.uniform(k2, (hidden,), minval=-bound1,
                                   maxval=bound1),
          "w2": jax.random.uniform(k3, (hidden,), minval=-bound2,
                                   maxval=bound2),
          "b2": jax.random.uniform(k4, (), minval=-bound2, maxval=bound2)}


def net_apply(params, x_ND):
  return jax.nn.relu(x_ND @ params["w1"] + params["b1"]) @ params["w2"] + (
      params["b2"])


def fit_net(x_ND, y_N, weight_N, key, hidden: int, steps: int,
            learning_rate: float):
  """A two-layer ReLU net trained by full-batch Adam on the points with
  weight 1 (mean squared error); returns its parameters."""
  optimizer = optax.adam(learning_rate)
  params = net_init(key, x_ND.shape[-1], hidden)

  def loss(p):
    return jnp.sum(weight_N * jnp.square(net_apply(p, x_ND) - y_N)) / (
        jnp.maximum(jnp.sum(weight_N), 1.0))

  def step(carry, _):
    p, state = carry
    updates, state = optimizer.update(jax.grad(loss)(p), state, p)
    return (optax.apply_updates(p, updates), state), None

  (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)),
                                None, length=steps)
  return params


def gd_net(x_BKD, y_BK, hidden: int = 100, steps: int = 1000,
           learning_rate: float = 5e-3, seed: int = 0):
  """Garg et al.'s network baseline: for every prefix, a fresh two-layer
  ReLU net (``hidden`` units) trained by Adam on the earlier points, then
  evaluated at x_k; vmapped over batch and prefix."""
  b, k, _ = x_BKD.shape
  keys_BK = jax.random.split(jax.random.key(seed), b * k).reshape(b, k)
  weight_KK = _earlier_KK(k)

  def one(x_KD, y_K, weight_K, key, query_D):
    params = fit_net(x_KD, y_K, weight_K, key, hidden, steps, learning_rate)
    return net_apply(params, query_D[None])[0]

  per_prefix = jax.vmap(one, in_axes=(None, None, 0, 0, 0))
  out_BK = jax.vmap(per_prefix, in_axes=(0, 0, None, 0, 0))(
      x_BKD, y_BK, weight_KK, keys_BK, x_BKD)
  return out_BK * (jnp.arange(k) > 0)


def _per_prefix(make_model: Callable, x_BKD, y_BK) -> np.ndarray:
  """One library model fit on each prefix (host side), [B, K]."""
  x, y = np.asarray(x_BKD), np.asarray(y_BK)
  out = np.zeros(y.shape, np.float32)
  for b in range(x.shape[0]):
    for k in range(1, x.shape[1]):
      model = make_model()
      model.fit(x[b, :k], y[b, :k])
      out[b, k] = model.predict(x[b, k:k + 1])[0]
  return out


def tree(x_BKD, y_BK):
  """A greedy regression tree grown to purity (scikit-learn's
  DecisionTreeRegressor, no depth limit), as Garg et al.'s."""
  from sklearn.tree import DecisionTreeRegressor
  # A fixed random_state: scikit-learn visits the features in a random
  # order at every split and keeps the first of equally good splits, which
  # on short prefixes are many, so an unseeded tree predicted differently
  # from run to run (greedy tree error at n = 2 differed by 0.05 between
  # two runs on the same evaluation sequences).
  return _per_prefix(lambda: DecisionTreeRegressor(random_state=0), x_BKD,
                     y_BK)


def xgboost(x_BKD, y_BK):
  """Gradient-boosted trees with XGBoost's defaults, as Garg et al.'s."""
  import xgboost as xgb
  return _per_prefix(lambda: xgb.XGBRegressor(n_jobs=1), x_BKD, y_BK)


# name -> (predictions [B, K] from (x, y), whether it runs in JAX, the
# library it needs or "").
REGISTRY: dict[str, tuple[Callable, bool, str]] = {
    "least_squares": (least_squares, True, ""),
    "averaging": (averaging, True, ""),
    "knn": (knn, True, ""),
    "lasso": (functools.partial(lasso, alpha=0.01), True, ""),
    "lasso_0.1": (functools.partial(lasso, alpha=0.1), True, ""),
    "gd_net": (gd_net, True, ""),
    "tree": (tree, False, "sklearn"),
    "xgboost": (xgboost, False, "xgboost"),
}
