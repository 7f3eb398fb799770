"""The function classes (icl/tasks/functions): their samples' statistics,
the curriculum, the baselines against scikit-learn, NumPy and a Python
loop, the distribution shifts, and the probabilistic head's scores."""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from icl import checkpoint, schema, train
from icl.configs import functions as functions_config
from icl.tasks import functions
from icl.evaluators import shifts, uncertainty
from icl.tasks.functions import baselines
from icl.tasks.functions import task as task_lib
from icl.tasks.regression import split_tokens
from tests.conftest import ONE_DEVICE, config_error


def _task(name, **values):
  return functions.TASKS[name](**values)


def _xy(task, batch=64, seed=0):
  b = task.sample(jax.random.key(seed), batch)
  x, y = split_tokens(b.inputs)
  return b, np.asarray(x), np.asarray(y)


# -- the classes --------------------------------------------------------------

def test_linear_values_and_layout():
  task = _task("linear", dim=4, num_points=6)
  b, x, y = _xy(task)
  w = np.asarray(b.extras["function"]["w"])
  np.testing.assert_allclose(y, np.einsum("bkd,bd->bk", x, w), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(b.loss_mask, np.tile([1.0, 0.0], (64, 6)))
  assert task.head == "scalar" and task.input_dim == 5


def test_sparse_linear_has_exactly_k_nonzeros():
  task = _task("sparse_linear", dim=10, sparsity=3)
  b, x, y = _xy(task, batch=256)
  w = np.asarray(b.extras["function"]["w"])
  np.testing.assert_array_equal((w != 0).sum(1), 3)
  # Every coordinate is chosen equally often (uniform supports).
  counts = (w != 0).sum(0)
  assert counts.min() > 0.5 * counts.mean()


def test_noisy_linear_adds_noise_of_the_configured_variance():
  task = _task("noisy_linear", dim=4, num_points=40, noise_var=0.25)
  b, x, y = _xy(task, batch=256)
  clean = np.asarray(b.extras["clean_targets"])
  w = np.asarray(b.extras["function"]["w"])
  np.testing.assert_allclose(clean, np.einsum("bkd,bd->bk", x, w),
                             rtol=1e-5, atol=1e-5)
  assert np.var(y - clean) == pytest.approx(0.25, rel=0.05)


def test_quadratic_classification_and_relu_values():
  _, x, y = _xy(_task("quadratic", dim=3), batch=8)
  b, _, _ = _xy(_task("quadratic", dim=3), batch=8)
  w = np.asarray(b.extras["function"]["w"])
  np.testing.assert_allclose(y, np.einsum("bkd,bd->bk", x ** 2, w)
                             / np.sqrt(3), rtol=1e-5, atol=1e-5)
  _, x, y = _xy(_task("linear_classification", dim=3))
  assert set(np.unique(y)) == {-1.0, 1.0}
  task = _task("relu_2nn", dim=6, num_points=30, hidden=100)
  b, x, y = _xy(task, batch=128)
  p = b.extras["function"]
  hidden = np.maximum(np.einsum("bkd,bhd->bkh", x, np.asarray(p["w"])), 0)
  np.testing.assert_allclose(
      y, np.einsum("bkh,bh->bk", hidden, np.asarray(p["a"]))
      * np.sqrt(2 / 100), rtol=1e-4, atol=1e-4)
  assert 4 < np.var(y) < 8  # about d = 6, as for linear regression


def test_decision_trees_have_the_configured_depth():
  task = _task("decision_tree", dim=5, depth=3, num_points=200)
  b, x, y = _xy(task, batch=16)
  p = {k: np.asarray(v) for k, v in b.extras["function"].items()}
  assert p["feature"].shape == (16, 15) and p["feature"].max() < 5
  for row in range(16):  # walk each tree by hand: three tests, then a leaf
    for k in range(200):
      node = 0
      for _ in range(3):
        node = 2 * node + 1 + int(x[row, k, p["feature"][row, node]] > 0)
      assert 7 <= node < 15
      assert y[row, k] == p["value"][row, node]


def test_sparse_parity_is_the_product_of_k_signs():
  task = _task("sparse_parity", dim=8, sparsity=3, num_points=20)
  b, x, y = _xy(task)
  support = np.asarray(b.extras["function"]["support"])
  np.testing.assert_array_equal(support.sum(1), 3)
  assert set(np.unique(x)) == {-1.0, 1.0}
  expected = np.prod(np.where(support[:, None] > 0, x, 1.0), axis=-1)
  np.testing.assert_array_equal(y, expected)


def test_a_pool_of_m_functions_is_drawn_once():
  task = _task("decision_tree", dim=4, num_tasks=5, pool_seed=1)
  b, _, _ = _xy(task, batch=200)
  values = {tuple(r) for r in np.asarray(b.extras["function"]["value"])}
  assert len(values) == 5
  again = {tuple(r) for r in np.asarray(_xy(task, 200, seed=1)[0].extras[
      "function"]["value"])}
  assert again == values  # the pool, not the data key, fixes them


@pytest.mark.parametrize("path,value,message", [
    ("task.sparsity", 9, "task.sparsity must be an int in [1, task.dim=5]"),
    ("task.curriculum_dims", (6, 1, 2), "task.curriculum_dims must be a "
     "(start, increment) pair of ints with 1 <= start <= 5"),
    ("task.curriculum_every", -1, "task.curriculum_every must be an int >= 0"),
    ("eval.baselines", ("lasso", "ridge"), "eval.baselines[1] must be one of"),
])
def test_bad_fields_are_named(path, value, message):
  config = functions_config.get_config("cpu,sparse_linear")
  assert message in config_error(config, path, value)


# -- the curriculum -----------------------------------------------------------

def test_the_curriculum_rises_at_its_boundaries():
  value = lambda step: int(task_lib.curriculum_value(step, 5, 1, 100, 8))
  assert [value(s) for s in (0, 99, 100, 199, 200, 300, 399, 10_000)] == [
      5, 5, 6, 6, 7, 8, 8, 8]
  assert task_lib.curriculum_value(12_345, 5, 1, 0, 8) == 8  # no curriculum
  task = _task("linear", dim=6, num_points=9, curriculum_every=10,
               curriculum_dims=(2, 2), curriculum_points=(3, 3))
  assert task.at_step(0).active_dim == 2 and task.at_step(10).active_dim == 4
  b = task.at_step(jnp.int32(10)).sample(jax.random.key(0), 8)
  x, _ = split_tokens(b.inputs)
  assert np.all(np.asarray(x)[..., 4:] == 0) and np.all(
      np.asarray(x)[..., :4] != 0)
  # Points 1..6 count at step 10; 7..9 are sampled but carry no loss.
  np.testing.assert_array_equal(b.loss_mask[0, 0::2], [1] * 6 + [0] * 3)
  assert task.at_step(10_000).active_points == 9


def test_resume_across_a_curriculum_stage_is_bitwise_identical(tmp_path):
  def config(steps):
    c = functions_config.get_config("cpu")
    c.task.update(curriculum_every=6, curriculum_dims=(2, 1),
                  curriculum_points=(5, 2))
    c.model.update(num_layers=1, d_model=16)
    c.train.update(steps=steps, batch_size=8, log_every=4, eval_every=12,
                   checkpoint_every=4)
    c.eval.batch_size = 16
    return c
  train.train_and_evaluate(config(12), str(tmp_path / "whole"),
                           verbose=False, devices=ONE_DEVICE)
  # Stopped at step 4, before the stage change at 6, then extended.
  train.train_and_evaluate(config(4), str(tmp_path / "split"),
                           verbose=False, devices=ONE_DEVICE)
  train.train_and_evaluate(config(12), str(tmp_path / "split"),
                           verbose=False, devices=ONE_DEVICE)
  (_, a), (_, b) = (checkpoint.load_params(tmp_path / name)
                    for name in ("whole", "split"))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


# -- baselines ----------------------------------------------------------------

def _context(seed=0, b=4, k=9, d=5, sparse=False):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(b, k, d)).astype(np.float32)
  w = rng.normal(size=(b, d))
  if sparse:
    w[:, 2:] = 0
  return x, (np.einsum("bkd,bd->bk", x, w)
             + 0.1 * rng.normal(size=(b, k))).astype(np.float32)


# scikit-learn's own tolerance is tighter than float32 data allow.
@pytest.mark.filterwarnings("ignore:Objective did not converge")
def test_lasso_and_knn_agree_with_scikit_learn():
  sklearn = pytest.importorskip("sklearn")
  from sklearn.linear_model import Lasso
  from sklearn.neighbors import KNeighborsRegressor
  del sklearn
  x, y = _context(sparse=True)
  lasso = np.asarray(baselines.lasso(jnp.asarray(x), jnp.asarray(y), 0.05))
  knn = np.asarray(baselines.knn(jnp.asarray(x), jnp.asarray(y)))
  for b in range(x.shape[0]):
    assert lasso[b, 0] == 0 and knn[b, 0] == 0  # no context: predict 0
    for k in range(1, x.shape[1]):
      ref = Lasso(alpha=0.05, fit_intercept=False, tol=1e-8,
                  max_iter=100_000).fit(x[b, :k], y[b, :k])
      assert lasso[b, k] == pytest.approx(ref.predict(x[b, k:k + 1])[0],
                                          abs=1e-4)
      ref = KNeighborsRegressor(n_neighbors=min(3, k)).fit(x[b, :k],
                                                           y[b, :k])
      assert knn[b, k] == pytest.approx(ref.predict(x[b, k:k + 1])[0],
                                        abs=1e-5)


def test_averaging_and_least_squares_match_numpy():
  x, y = _context(d=3)
  avg = np.asarray(baselines.averaging(jnp.asarray(x), jnp.asarray(y)))
  ls = np.asarray(baselines.least_squares(jnp.asarray(x), jnp.asarray(y)))
  for b in range(x.shape[0]):
    for k in range(1, x.shape[1]):
      w_avg = (x[b, :k] * y[b, :k, None]).mean(0)
      assert avg[b, k] == pytest.approx(x[b, k] @ w_avg, abs=1e-5)
      w_ls = np.linalg.lstsq(x[b, :k], y[b, :k], rcond=None)[0]
      assert ls[b, k] == pytest.approx(x[b, k] @ w_ls, abs=2e-4)


def test_the_gd_net_matches_a_python_loop_of_the_same_optimizer():
  x, y = _context(b=2, k=5, d=3)
  steps, hidden, lr = 30, 8, 5e-3
  vectorized = np.asarray(baselines.gd_net(jnp.asarray(x), jnp.asarray(y),
                                           hidden, steps, lr, seed=3))
  keys = jax.random.split(jax.random.key(3), 2 * 5).reshape(2, 5)
  optimizer = optax.adam(lr)
  for b in range(2):
    for k in (1, 4):
      params = baselines.net_init(keys[b, k], 3, hidden)
      state = optimizer.init(params)
      for _ in range(steps):  # plain Python: one Adam step at a time
        grads = jax.grad(lambda p: jnp.mean(jnp.square(
            baselines.net_apply(p, jnp.asarray(x[b, :k])) - y[b, :k])))(
                params)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
      expected = baselines.net_apply(params, jnp.asarray(x[b, k:k + 1]))[0]
      assert vectorized[b, k] == pytest.approx(float(expected), abs=1e-4)


def test_library_trees_fit_each_prefix():
  pytest.importorskip("sklearn")
  pytest.importorskip("xgboost")
  x, y = _context(b=2, k=6, d=3)
  tree = baselines.tree(x, y)
  # A tree grown to purity returns a context value; with one point, that.
  np.testing.assert_allclose(tree[:, 1], y[:, 0], rtol=1e-6)
  assert all(tree[b, k] in y[b, :k] for b in range(2) for k in range(1, 6))
  # Reproducible: on short prefixes many splits tie, and scikit-learn breaks
  # ties by a random feature order.
  wide_x, wide_y = _context(b=32, k=6, d=5)
  np.testing.assert_array_equal(baselines.tree(wide_x, wide_y),
                                baselines.tree(wide_x, wide_y))
  boosted = baselines.xgboost(x, y)
  assert boosted.shape == y.shape and np.all(boosted[:, 0] == 0)
  assert np.all(np.isfinite(boosted))


# -- distribution shifts ------------------------------------------------------

def _shifted(cls, task, scale=2.0, noise=1.0):
  shared, values = task.split_members()
  return shifts._shifted(cls, shared, 32, values, jax.random.key(0), scale,
                         noise)


def test_each_shift_moves_what_its_name_says():
  task = _task("linear", dim=6, num_points=5)
  base_b = _shifted(shifts.ScaleYEvaluator, task, scale=1.0, noise=0.0)
  x0, y0 = map(np.asarray, split_tokens(base_b.inputs))
  x, y = map(np.asarray, split_tokens(_shifted(shifts.ScaleXEvaluator,
                                               task).inputs))
  np.testing.assert_allclose(x, 2 * x0, rtol=1e-6)
  np.testing.assert_allclose(y, 2 * y0, rtol=1e-4, atol=1e-5)  # linear
  _, y = map(np.asarray, split_tokens(_shifted(shifts.ScaleYEvaluator,
                                               task).inputs))
  np.testing.assert_allclose(y, 2 * y0, rtol=1e-5, atol=1e-6)
  b = _shifted(shifts.NoiseEvaluator, task, noise=0.5)
  _, y = map(np.asarray, split_tokens(b.inputs))
  np.testing.assert_allclose(np.asarray(b.extras["clean_targets"]), y0,
                             rtol=1e-5, atol=1e-6)
  assert np.var(y - y0) == pytest.approx(0.5, rel=0.3)
  x, _ = map(np.asarray, split_tokens(_shifted(shifts.OrthantEvaluator,
                                               task).inputs))
  signs = np.sign(x)
  np.testing.assert_array_equal(signs[:, 1:-1], signs[:, :1].repeat(3, 1))
  np.testing.assert_array_equal(signs[:, -1], -signs[:, 0])
  x, _ = map(np.asarray, split_tokens(_shifted(shifts.OrthogonalEvaluator,
                                               task).inputs))
  np.testing.assert_allclose(np.einsum("bkd,bd->bk", x[:, :-1], x[:, -1]),
                             0, atol=1e-4)
  x, _ = map(np.asarray, split_tokens(_shifted(shifts.SkewedEvaluator,
                                               task).inputs))
  spectrum = np.sort(np.linalg.eigvalsh(np.cov(x.reshape(-1, 6).T)))[::-1]
  assert spectrum[0] > 10 * spectrum[-1]  # far from isotropic


def test_shift_orthogonal_needs_fewer_points_than_dimensions():
  config = functions_config.get_config("cpu")
  config.evals = ("shift_orthogonal",)
  assert "task.num_points must be at most task.dim=5" in config_error(
      config, "task.num_points", 11)


# -- the probabilistic head ---------------------------------------------------

def test_gaussian_nll_is_the_hand_computation():
  outputs = jnp.array([[0.3, 0.0], [-1.0, 2.0]])
  mean, var = task_lib.gaussian(outputs)
  softplus = np.log1p(np.exp([0.0, 2.0])) + task_lib.MIN_VARIANCE
  np.testing.assert_allclose(var, softplus, rtol=1e-6)
  target = jnp.array([1.0, 0.5])
  nll = task_lib.gaussian_nll(mean, var, target)
  by_hand = [0.5 * np.log(2 * np.pi * v) + (t - m) ** 2 / (2 * v)
             for m, v, t in zip([0.3, -1.0], softplus, [1.0, 0.5])]
  np.testing.assert_allclose(nll, by_hand, rtol=1e-6)


def test_coverage_is_right_for_the_true_variance():
  rng = np.random.default_rng(0)
  mean = rng.normal(size=(20_000, 3))
  sd = rng.uniform(0.5, 2.0, size=(20_000, 3))
  target = mean + sd * rng.normal(size=(20_000, 3))
  s = uncertainty.scores(jnp.asarray(mean), jnp.asarray(sd ** 2),
                         jnp.asarray(target))
  np.testing.assert_allclose(s["coverage_50"], 0.5, atol=0.015)
  np.testing.assert_allclose(s["coverage_90"], 0.9, atol=0.01)
  # Twice the true spread over-covers; half under-covers.
  wide = uncertainty.scores(jnp.asarray(mean), jnp.asarray(4 * sd ** 2),
                            jnp.asarray(target))
  assert min(wide["coverage_50"]) > 0.6


def test_the_bayes_predictive_is_the_posterior_by_direct_computation():
  task = _task("noisy_linear", dim=3, num_points=6, noise_var=0.5)
  b, x, y = _xy(task, batch=2)
  mean, var = map(np.asarray, task.bayes_predictive(jnp.asarray(x),
                                                    jnp.asarray(y)))
  for row in range(2):
    for k in range(6):
      xs, ys = x[row, :k], y[row, :k]
      cov = np.linalg.inv(xs.T @ xs / 0.5 + np.eye(3))
      w = cov @ xs.T @ ys / 0.5
      assert mean[row, k] == pytest.approx(x[row, k] @ w, abs=1e-4)
      assert var[row, k] == pytest.approx(0.5 + x[row, k] @ cov @ x[row, k],
                                          abs=1e-4)
  assert dataclasses.replace(task, num_tasks=8).bayes_predictive(
      jnp.asarray(x), jnp.asarray(y)) is None


def test_a_probabilistic_run_trains_and_reports_calibration(tmp_path):
  c = functions_config.get_config("cpu,noisy_linear")
  c.task.update(probabilistic=True, dim=3, num_points=6)
  c.evals = ("functions", "uncertainty")
  c.model.update(num_layers=1, d_model=16)
  c.train.update(steps=4, batch_size=8, log_every=2, eval_every=4,
                 checkpoint_every=4)
  c.eval.batch_size = 16
  results = train.train_and_evaluate(c, str(tmp_path), verbose=False,
                                     devices=ONE_DEVICE)
  s = results["uncertainty"].summary()
  assert np.isfinite(s["nll/model"]) and 0 <= s["coverage_90/model"] <= 1
  assert s["nll_gap"] == pytest.approx(s["nll/model"] - s["nll/bayes"])
  assert os.path.getsize(tmp_path / "uncertainty.png") > 10_000
  assert schema.validate(c).model.build(schema.validate(c).task
                                        ).config.head == "gaussian"
