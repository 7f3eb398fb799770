"""Evaluators: a function ``params -> results`` built once per run.

Regression (Raventós et al. 2023): on two task distributions, the pretraining
pool ("pretrain") and Gaussian task vectors ("true"), report per context
position

- ``error[p]``: mean squared error / D of predictor p against the *noiseless*
  target w.x, for the model, ridge, dMMSE and least squares;
- ``delta[b]``: mean squared difference / D between the model's and baseline
  b's predictions.

The evaluation batches come from the ``eval`` random stream, disjoint from the
training data stream, and are fixed for the whole run, so the curves at
different steps are comparable. Baselines do not depend on the parameters:
they are computed once.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from icl import baselines
from icl.metrics import markdown_table
from icl.tasks import regression

DISTRIBUTIONS = ("pretrain", "true")
# Bound on dMMSE's [chunk, K, M] intermediates, in elements.
_DMMSE_ELEMENTS = 1 << 25


def _dmmse_chunk(batch: int, k: int, m: int) -> int:
  """Largest divisor of ``batch`` keeping chunk * K * M under the bound."""
  limit = max(1, _DMMSE_ELEMENTS // (k * m))
  return max(c for c in range(1, batch + 1) if batch % c == 0 and c <= limit)


def regression_baselines(task: regression.RegressionTask, batch) -> dict:
  """Predictions [B, K] of every baseline that applies to ``task``."""
  x_BKD, y_BK = regression.split_tokens(batch.inputs)
  preds = {
      "ridge": baselines.ridge(x_BKD, y_BK, task.ridge_lambda),
      "ols": baselines.least_squares(x_BKD, y_BK),
  }
  if task.finite_pool:
    pool_MD = task.pool()
    chunk = _dmmse_chunk(x_BKD.shape[0], x_BKD.shape[1], task.num_tasks)
    preds["dmmse"] = baselines.in_chunks(
        lambda x, y: baselines.dmmse(x, y, pool_MD, task.noise_var),
        x_BKD, y_BK, chunk_size=chunk)
  return preds


def regression_curves(model_BK, baseline_preds: dict, clean_BK, dim: int):
  """Per-position error / D and model-baseline gaps, as numpy [K] arrays."""
  per_pos = lambda a_BK, b_BK: np.asarray(jnp.mean(jnp.square(a_BK - b_BK), 0)
                                          / dim)
  error = {"model": per_pos(model_BK, clean_BK)}
  error.update({n: per_pos(p, clean_BK) for n, p in baseline_preds.items()})
  delta = {n: per_pos(model_BK, p) for n, p in baseline_preds.items()}
  return {"error": error, "delta": delta}


def make_regression_evaluator(model, task: regression.RegressionTask,
                              batch_size: int, key: jax.Array
                              ) -> Callable[[Any], dict]:
  """Returns ``evaluate(params) -> {dist: {'error': {...}, 'delta': {...}}}``."""
  dists = {"pretrain": task, "true": task.true_distribution()}
  batches, refs = {}, {}
  for i, (name, dist) in enumerate(dists.items()):
    batch = jax.jit(lambda k, d=dist: d.sample(k, batch_size))(
        jax.random.fold_in(key, i))
    batches[name] = batch
    # The pool prior defines dMMSE on both distributions, so pass ``task``.
    refs[name] = jax.jit(lambda b: regression_baselines(task, b))(batch)

  @jax.jit
  def predict(params, batch):
    out_BT = model.apply({"params": params}, batch.inputs, batch.positions)
    return regression.predictions_at_x(out_BT)

  def evaluate(params) -> dict:
    return {name: regression_curves(predict(params, batch), refs[name],
                                    batch.extras["clean_targets"], task.dim)
            for name, batch in batches.items()}

  return evaluate


def summarize(results: dict) -> dict[str, float]:
  """Flat ``{'true/error/model': mean over positions, ...}`` scalars."""
  flat = {}
  for dist, groups in results.items():
    for group, curves in groups.items():
      for name, curve in curves.items():
        flat[f"{dist}/{group}/{name}"] = float(np.mean(curve))
  return flat


def results_table(results: dict) -> str:
  """Markdown: one row per distribution, errors and gaps averaged over K."""
  s = summarize(results)
  cols = [("error/model", "model"), ("error/ridge", "ridge"),
          ("error/dmmse", "dMMSE"), ("error/ols", "OLS"),
          ("delta/ridge", "Δ ridge"), ("delta/dmmse", "Δ dMMSE")]
  rows = [[dist] + [s.get(f"{dist}/{key}") for key, _ in cols]
          for dist in results]
  return markdown_table(["tasks"] + [c for _, c in cols], rows)


# Task type -> evaluator factory ``(model, task, batch_size, key) -> fn``.
EVALUATORS = {regression.RegressionTask: make_regression_evaluator}


def build(model, task, batch_size: int, key: jax.Array):
  """The evaluator for ``task``'s type: ``evaluate(params) -> results``."""
  factory = EVALUATORS.get(type(task))
  if factory is None:
    raise ValueError(f"no evaluator for task type {type(task).__name__}; "
                     f"known: {[t.__name__ for t in EVALUATORS]}")
  return factory(model, task, batch_size, key)
