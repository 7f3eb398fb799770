"""Regression evaluation: curves, gaps, distributions, disjoint eval data."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from icl import jax_events, rng
from icl.evaluators import regression as evaluate
from icl.tasks.regression import baselines
from icl.tasks import regression
from icl.tasks.regression import RegressionTask


def _eval(batch_size):
  return ml_collections.ConfigDict({"batch_size": batch_size})


class RidgeModel:
  """Stands in for a transformer: its outputs are ridge's predictions."""

  def __init__(self, lam):
    self.lam = lam

  def apply(self, variables, inputs, positions):
    x, y = regression.split_tokens(inputs)
    pred = baselines.ridge(x, y, self.lam)
    return regression.interleave(pred, jnp.zeros_like(pred))


def test_a_ridge_model_has_zero_gap_to_ridge_and_its_error():
  task = RegressionTask(dim=4, num_points=8, num_tasks=8)
  evaluator = evaluate.RegressionEvaluator(
      RidgeModel(task.ridge_lambda), task, _eval(64), rng.stream(0, "eval"))
  results = evaluator(params={})
  for dist in evaluate.DISTRIBUTIONS:
    np.testing.assert_allclose(results[dist]["delta"]["ridge"], 0.0, atol=1e-10)
    np.testing.assert_allclose(results[dist]["error"]["model"],
                               results[dist]["error"]["ridge"], rtol=1e-6)
    assert results[dist]["error"]["model"].shape == (8,)
  # On the pool dMMSE knows the prior: it beats ridge once context arrives.
  pool = results["pretrain"]["error"]
  assert pool["dmmse"][4:].mean() < pool["ridge"][4:].mean()
  # On Gaussian tasks ridge is Bayes-optimal, so dMMSE is worse.
  true = results["true"]["error"]
  assert true["ridge"][4:].mean() < true["dmmse"][4:].mean()
  # Empty context: every predictor says ~0, so error ~ |w|^2 / D.
  np.testing.assert_allclose(true["model"][0], true["ridge"][0])


def test_error_and_delta_definitions():
  model = jnp.array([[1.0, 2.0], [3.0, 4.0]])
  clean = jnp.zeros((2, 2))
  base = {"ridge": jnp.ones((2, 2))}
  curves = evaluate.regression_curves(model, base, clean, dim=2)
  np.testing.assert_allclose(curves["error"]["model"], [(1 + 9) / 4, (4 + 16) / 4])
  np.testing.assert_allclose(curves["delta"]["ridge"], [(0 + 4) / 4, (1 + 9) / 4])
  np.testing.assert_allclose(curves["error"]["ridge"], [0.5, 0.5])


def test_infinite_pool_has_no_dmmse():
  task = RegressionTask(dim=3, num_points=4, num_tasks=-1)
  results = evaluate.RegressionEvaluator(
      RidgeModel(task.ridge_lambda), task, _eval(16), rng.stream(0, "eval"))({})
  assert "dmmse" not in results["true"]["error"]
  assert "n/a" in results.table()


def test_dmmse_chunk_is_a_bounded_divisor():
  assert evaluate._dmmse_chunk(1024, 16, 2**15) == 64
  assert evaluate._dmmse_chunk(1024, 16, 4) == 1024
  assert evaluate._dmmse_chunk(1000, 16, 2**20) == 2


def test_eval_stream_is_disjoint_from_training_data():
  task = RegressionTask(dim=4, num_points=8)
  train_batch = task.sample(jax.random.fold_in(rng.stream(0, "data"), 0), 64)
  eval_batch = task.sample(jax.random.fold_in(rng.stream(0, "eval"), 0), 64)
  a = np.asarray(train_batch.inputs).reshape(-1)
  b = np.asarray(eval_batch.inputs).reshape(-1)
  assert len(np.intersect1d(a[a != 0], b[b != 0])) == 0


@functools.partial(jax.jit, static_argnums=0)
def _own_batch_and_baselines(task, key):
  """What the task itself gives, with every field a constant."""
  batch = task.sample(key, 16)
  x, y = regression.split_tokens(batch.inputs)
  return (batch, baselines.ridge(x, y, task.ridge_lambda),
          baselines.dmmse(x, y, task.pool(), task.noise_var))


def test_ensemble_members_share_the_eval_programs_and_get_their_own_data():
  from icl.evaluators.base import sample_batch
  # Three members of a task-diversity ensemble: M and the pool seed differ.
  members = [RegressionTask(dim=3, num_points=5, num_tasks=m, pool_seed=s)
             for m, s in ((4, 0), (4, 1), (16, 2))]
  key = rng.stream(0, "eval")
  with jax_events.collect(jax_events.COMPILE) as compiles:
    batches = [sample_batch(t, 16, key) for t in members]
  assert len(compiles) == 1  # one sampling program for all three
  with jax_events.collect(jax_events.COMPILE) as compiles:
    preds = [evaluate.regression_baselines(t, b)
             for t, b in zip(members, batches)]
  # ridge and OLS once; dMMSE once per pool size M (a shape): 4 and 16.
  assert len(compiles) == 2 + 2
  for task, batch, pred in zip(members, batches, preds):
    own, ridge, dmmse = _own_batch_and_baselines(task, key)
    np.testing.assert_allclose(batch.inputs, own.inputs, rtol=1e-6)
    np.testing.assert_allclose(batch.extras["w"], own.extras["w"], rtol=1e-6)
    np.testing.assert_allclose(pred["ridge"], ridge, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pred["dmmse"], dmmse, rtol=1e-4, atol=1e-6)
  # The members really got different tasks.
  assert not np.allclose(batches[0].extras["w"], batches[1].extras["w"])
