"""The regression task: layout, determinism, the pool, the true distribution."""

import jax
import jax.numpy as jnp
import numpy as np

from icl.tasks import regression
from icl.tasks.regression import RegressionTask, probe_targets


def test_tokens_follow_the_paper_layout():
  task = RegressionTask(dim=3, num_points=5, noise_var=0.0, num_tasks=-1)
  b = task.sample(jax.random.key(0), 4)
  assert b.inputs.shape == (4, 10, 4)
  x, y = regression.split_tokens(b.inputs)
  np.testing.assert_array_equal(b.inputs[:, 0::2, 0], 0.0)  # x-tokens [0, x]
  np.testing.assert_array_equal(b.inputs[:, 1::2, 1:], 0.0)  # y-tokens [y, 0]
  np.testing.assert_allclose(y, jnp.einsum("bkd,bd->bk", x, b.extras["w"]),
                             rtol=1e-5, atol=1e-5)
  # Targets and loss live at the x positions: y_k is predicted from x_k.
  np.testing.assert_array_equal(b.loss_mask, np.tile([1.0, 0.0], (4, 5)))
  np.testing.assert_array_equal(b.targets[:, 0::2], y)
  np.testing.assert_array_equal(b.positions[0], np.arange(10))


def test_sample_is_a_pure_function_of_the_key():
  task = RegressionTask(num_tasks=8)
  key = jax.random.fold_in(jax.random.key(3), 17)
  sample = jax.jit(lambda k: task.sample(k, 16))
  a, b = sample(key), sample(jax.random.fold_in(jax.random.key(3), 17))
  np.testing.assert_array_equal(a.inputs, b.inputs)
  # Eager execution may fuse differently, so it agrees to rounding only.
  np.testing.assert_allclose(task.sample(key, 16).inputs, a.inputs, rtol=1e-6,
                             atol=1e-6)
  c = task.sample(jax.random.fold_in(jax.random.key(3), 18), 16)
  assert not np.allclose(a.inputs, c.inputs)


def test_finite_pool_tasks_come_from_the_pool():
  task = RegressionTask(dim=4, num_tasks=6, pool_seed=2)
  pool = np.asarray(task.pool())
  assert pool.shape == (6, 4)
  w = np.asarray(task.sample(jax.random.key(0), 200).extras["w"])
  dist = np.abs(w[:, None, :] - pool[None]).sum(-1).min(-1)
  np.testing.assert_array_equal(dist, 0.0)
  assert len({tuple(r) for r in w}) == 6  # 200 draws hit all 6 tasks
  # The pool is fixed by pool_seed, not by the data key.
  other = RegressionTask(dim=4, num_tasks=6, pool_seed=3).pool()
  assert not np.allclose(pool, other)


def test_pool_is_independent_of_the_data_stream_with_equal_seeds():
  task = RegressionTask(dim=4, num_points=4, num_tasks=4, pool_seed=0)
  b = task.sample(jax.random.key(0), 2)
  x, _ = regression.split_tokens(b.inputs)
  pool = np.asarray(task.pool())
  for row in np.asarray(x).reshape(-1, 4):
    assert np.abs(pool - row).sum(-1).min() > 1e-3


def test_true_distribution_draws_fresh_gaussian_tasks():
  task = RegressionTask(dim=8, num_tasks=4, task_var=4.0)
  true = task.true_distribution()
  assert true.num_tasks == regression.INFINITE and true.dim == 8
  w = np.asarray(true.sample(jax.random.key(1), 4000).extras["w"])
  assert len({tuple(r) for r in w}) == 4000
  np.testing.assert_allclose(w.var(0), 4.0, rtol=0.1)
  np.testing.assert_allclose(w.mean(0), 0.0, atol=0.1)


def test_noise_has_the_configured_variance():
  task = RegressionTask(dim=2, num_points=64, noise_var=0.25)
  b = task.sample(jax.random.key(5), 256)
  _, y = regression.split_tokens(b.inputs)
  resid = np.asarray(y - b.extras["clean_targets"])
  np.testing.assert_allclose(resid.var(), 0.25, rtol=0.05)


def test_loss_counts_only_masked_positions():
  task = RegressionTask(dim=2, num_points=3)
  b = task.sample(jax.random.key(0), 2)
  perfect = b.targets + (1 - b.loss_mask) * 100.0  # wrong only off the mask
  assert float(task.loss(perfect, b)) == 0.0
  # (t + 1) - t is 1 only to float32 rounding; counting the unmasked slots
  # would give 0.5.
  np.testing.assert_allclose(float(task.loss(b.targets + b.loss_mask, b)),
                             1.0, rtol=1e-6)


def test_regression_targets_are_the_context_estimators():
  key1, key2 = jax.random.split(jax.random.key(0))
  x = jax.random.normal(key1, (2, 6, 3))
  w = jax.random.normal(key2, (2, 3))
  y = jnp.einsum("bkd,bd->bk", x, w)
  targets = probe_targets.regression_targets(x, y, lam=1e-6)
  # With 3 or more noiseless pairs seen, OLS is the true w.
  np.testing.assert_allclose(targets["ols"][:, 2:],
                             jnp.broadcast_to(w[:, None], (2, 4, 3)),
                             atol=1e-3)
  np.testing.assert_allclose(targets["ridge"][:, 2:], targets["ols"][:, 2:],
                             atol=1e-3)
  np.testing.assert_allclose(targets["xty"][:, 0], x[:, 0] * y[:, :1],
                             rtol=1e-6)
