"""Vectorized baselines against plain NumPy loops over prefixes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.tasks.regression import baselines


def _data(seed, b=3, k=12, d=4, noise=0.5):
  rs = np.random.RandomState(seed)
  x = rs.randn(b, k, d).astype(np.float32)
  w = rs.randn(b, d).astype(np.float32)
  y = (np.einsum("bkd,bd->bk", x, w) + noise * rs.randn(b, k)).astype(
      np.float32)
  return x, y


def numpy_ridge(x, y, lam):
  b, k, d = x.shape
  out = np.zeros((b, k))
  for i in range(b):
    for t in range(k):
      xs, ys = x[i, :t].astype(np.float64), y[i, :t].astype(np.float64)
      w = np.linalg.solve(xs.T @ xs + lam * np.eye(d), xs.T @ ys)
      out[i, t] = x[i, t] @ w
  return out


def numpy_ols(x, y):
  b, k, _ = x.shape
  out = np.zeros((b, k))
  for i in range(b):
    for t in range(k):
      xs, ys = x[i, :t].astype(np.float64), y[i, :t].astype(np.float64)
      w = np.linalg.pinv(xs) @ ys if t else np.zeros(x.shape[-1])
      out[i, t] = x[i, t] @ w
  return out


def numpy_dmmse(x, y, pool, noise_var):
  b, k, _ = x.shape
  out = np.zeros((b, k))
  for i in range(b):
    for t in range(k):
      resid = y[i, :t, None] - x[i, :t] @ pool.T  # [t, M]
      logw = -np.sum(resid.astype(np.float64) ** 2, 0) / (2 * noise_var)
      p = np.exp(logw - logw.max())
      p /= p.sum()
      out[i, t] = x[i, t] @ (p @ pool)
  return out


@pytest.mark.parametrize("lam", [0.25, 1.0])
def test_ridge_matches_numpy(lam):
  x, y = _data(0)
  np.testing.assert_allclose(baselines.ridge(x, y, lam), numpy_ridge(x, y, lam),
                             rtol=1e-4, atol=1e-4)


def test_ridge_predicts_prior_mean_with_empty_context():
  x, y = _data(1)
  np.testing.assert_array_equal(baselines.ridge(x, y, 0.25)[:, 0], 0.0)


def test_least_squares_matches_numpy_pinv():
  x, y = _data(2, k=12, d=4)
  np.testing.assert_allclose(baselines.least_squares(x, y), numpy_ols(x, y),
                             rtol=1e-3, atol=1e-3)


def test_least_squares_is_exact_on_noiseless_data_once_determined():
  x, y = _data(3, k=10, d=4, noise=0.0)
  pred = baselines.least_squares(x, y)
  np.testing.assert_allclose(pred[:, 5:], y[:, 5:], atol=1e-4)
  assert np.abs(pred[:, 1:4] - y[:, 1:4]).max() > 1e-2  # underdetermined


def test_dmmse_matches_numpy():
  x, y = _data(4)
  pool = np.random.RandomState(5).randn(7, 4).astype(np.float32)
  np.testing.assert_allclose(baselines.dmmse(x, y, pool, 0.25),
                             numpy_dmmse(x, y, pool, 0.25), rtol=1e-4,
                             atol=1e-4)


def test_dmmse_identifies_pool_task():
  rs = np.random.RandomState(6)
  pool = rs.randn(5, 4).astype(np.float32)
  x = rs.randn(2, 10, 4).astype(np.float32)
  y = np.einsum("bkd,d->bk", x, pool[3]).astype(np.float32)
  pred = baselines.dmmse(x, y, pool, 0.01)
  # Empty context: the prior mean over the pool.
  np.testing.assert_allclose(pred[:, 0], x[:, 0] @ pool.mean(0), rtol=1e-5)
  # With enough noiseless points the posterior collapses onto the true task.
  np.testing.assert_allclose(pred[:, 6:], y[:, 6:], atol=1e-4)


def test_in_chunks_equals_one_call():
  x, y = _data(7, b=6)
  pool = np.random.RandomState(8).randn(9, 4).astype(np.float32)
  fn = lambda a, b: baselines.dmmse(a, b, jnp.asarray(pool), 0.25)
  np.testing.assert_allclose(baselines.in_chunks(fn, x, y, chunk_size=2),
                             fn(x, y), rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="multiple"):
    baselines.in_chunks(fn, x, y, chunk_size=4)


def test_baselines_jit():
  x, y = _data(9)
  np.testing.assert_allclose(jax.jit(baselines.ridge, static_argnums=2)(
      x, y, 0.25), baselines.ridge(x, y, 0.25), rtol=1e-5, atol=1e-5)


def test_noiseless_limits_are_finite():
  x, y = _data(10, noise=0.0)
  np.testing.assert_array_equal(baselines.ridge(x, y, 0.0),
                                baselines.least_squares(x, y))
  pool = np.concatenate([np.random.RandomState(11).randn(4, 4),
                         np.zeros((1, 4))]).astype(np.float32)
  pred = baselines.dmmse(x, y, pool, 0.0)
  assert np.isfinite(pred).all()
  np.testing.assert_allclose(pred[:, 0], x[:, 0] @ pool.mean(0), rtol=1e-5)


@pytest.mark.parametrize("name", ["ridge", "ols", "dmmse"])
@pytest.mark.parametrize("k", [0, 2, 4])
def test_a_prediction_never_sees_its_own_target(name, k):
  # Changing y_k, even to 1e6, must leave every prediction at positions
  # <= k unchanged: the estimate of y_k reads only the pairs before it.
  # ``cumsum(a) - a`` failed this (ridge moved by 38% at y_k = 1e6).
  x, y = _data(3, b=2, k=6)
  pool = np.random.RandomState(4).randn(8, 4).astype(np.float32)
  fn = {"ridge": lambda x, y: baselines.ridge(x, y, 0.25),
        "ols": baselines.least_squares,
        "dmmse": lambda x, y: baselines.dmmse(x, y, pool, 0.25)}[name]
  before = np.asarray(fn(x, y))
  for big in (1e3, 1e6, -1e6):
    changed = y.copy()
    changed[:, k] = big
    after = np.asarray(fn(x, changed))
    np.testing.assert_allclose(after[:, :k + 1], before[:, :k + 1],
                               rtol=1e-6, atol=1e-6)
    assert not np.allclose(after[:, k + 1:], before[:, k + 1:])


def test_dmmse_with_an_empty_context_predicts_x_dot_the_pool_mean():
  x, y = _data(5, b=2, k=3)
  pool = np.random.RandomState(6).randn(5, 4).astype(np.float32)
  pred = np.asarray(baselines.dmmse(x, y, pool, 0.25))
  np.testing.assert_allclose(pred[:, 0], x[:, 0] @ pool.mean(0), rtol=1e-5)
