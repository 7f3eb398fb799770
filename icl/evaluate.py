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
they are computed once, and the evaluation programs are shared by every
evaluator of the same shapes (an ensemble's members compile them once).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from icl import baselines, evaluate_arithmetic, evaluate_lengths, sharding
from icl.metrics import markdown_table
from icl.tasks import regression
from icl.tasks.arithmetic.task import ArithmeticTask
from icl.tasks.sequence import SequenceTask

DISTRIBUTIONS = ("pretrain", "true")
# Bound on dMMSE's [chunk, K, M] intermediates, in elements.
_DMMSE_ELEMENTS = 1 << 25


def _dmmse_chunk(batch: int, k: int, m: int) -> int:
  """Largest divisor of ``batch`` keeping chunk * K * M under the bound."""
  limit = max(1, _DMMSE_ELEMENTS // (k * m))
  return max(c for c in range(1, batch + 1) if batch % c == 0 and c <= limit)


def regression_baselines(task: regression.RegressionTask, batch) -> dict:
  """Predictions [B, K] of every baseline that applies to ``task``.

  Each baseline is its own compiled program, finished before the next one
  starts. With all three in one program, XLA:CPU (jaxlib 0.10.2) deadlocked
  at random: the process idled at 0% CPU waiting for the result. It hung in
  3 of 3 runs of 150 calls at M = 256, while the split programs finished
  450 calls of 450. This was the "stall" of the first session.
  """
  names = ["ridge", "ols"] + (["dmmse"] if task.finite_pool else [])
  return {name: jax.block_until_ready(_baseline(task, name, batch))
          for name in names}


@functools.partial(jax.jit, static_argnums=(0, 1))
def _baseline(task: regression.RegressionTask, name: str, batch) -> jax.Array:
  x_BKD, y_BK = regression.split_tokens(batch.inputs)
  if name == "ridge":
    return baselines.ridge(x_BKD, y_BK, task.ridge_lambda)
  if name == "ols":
    return baselines.least_squares(x_BKD, y_BK)
  pool_MD = task.pool()
  chunk = _dmmse_chunk(x_BKD.shape[0], x_BKD.shape[1], task.num_tasks)
  return baselines.in_chunks(
      lambda x, y: baselines.dmmse(x, y, pool_MD, task.noise_var),
      x_BKD, y_BK, chunk_size=chunk)


def _per_position(a_BK, b_BK, dim: int):
  return jnp.mean(jnp.square(a_BK - b_BK), axis=0) / dim


def regression_curves(model_BK, baseline_preds: dict, clean_BK, dim: int):
  """Per-position error / D and model-baseline gaps, as [K] arrays.

  Jittable; under a mesh the [K] curves come out replicated, so every host
  can read them.
  """
  error = {"model": _per_position(model_BK, clean_BK, dim)}
  error.update({n: _per_position(p, clean_BK, dim)
                for n, p in baseline_preds.items()})
  delta = {n: _per_position(model_BK, p, dim)
           for n, p in baseline_preds.items()}
  return sharding.replicate({"error": error, "delta": delta})


def make_regression_evaluator(model, task: regression.RegressionTask,
                              batch_size: int, key: jax.Array
                              ) -> Callable[[Any], dict]:
  """Returns ``evaluate(params) -> {dist: {'error': {...}, 'delta': {...}}}``.

  Call it (the first time) under the run's mesh, if any: the batches are
  sampled sharded along ``batch``, like training batches.
  """
  dists = {"pretrain": task, "true": task.true_distribution()}
  keys = {name: jax.random.fold_in(key, i) for i, name in enumerate(dists)}
  setup = {}

  def prepare():
    for name, dist in dists.items():
      batch = _sample(dist, batch_size, keys[name])
      # The pool prior defines dMMSE on both distributions, so pass ``task``.
      setup[name] = (batch, regression_baselines(task, batch))

  def evaluate(params) -> dict:
    if not setup:
      prepare()
    return {name: jax.tree.map(np.asarray, _curves(
                model, task.dim, params, batch, preds))
            for name, (batch, preds) in setup.items()}

  return evaluate


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample(dist, batch_size, key):
  return sharding.constrain_batch(dist.sample(key, batch_size))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _curves(model, dim, params, batch, baseline_preds):
  out_BT = model.apply({"params": params}, batch.inputs, batch.positions)
  return regression_curves(regression.predictions_at_x(out_BT),
                           baseline_preds, batch.extras["clean_targets"], dim)


def _kind(results: dict) -> str:
  """'arithmetic', 'lengths' or 'regression': what produced ``results``."""
  if results.get("kind") == "arithmetic":
    return "arithmetic"
  return "lengths" if "lengths" in results else "regression"


def summarize(results: dict) -> dict[str, float]:
  """Flat scalars: ``{'true/error/model': mean over positions, ...}`` for
  regression, ``{'exact_match/beyond': ..., ...}`` for token tasks."""
  if _kind(results) == "arithmetic":
    return evaluate_arithmetic.summarize(results)
  if _kind(results) == "lengths":
    return evaluate_lengths.summarize(results)
  flat = {}
  for dist, groups in results.items():
    for group, curves in groups.items():
      for name, curve in curves.items():
        flat[f"{dist}/{group}/{name}"] = float(np.mean(curve))
  return flat


def results_table(results: dict) -> str:
  """Markdown: one row per distribution, errors and gaps averaged over K
  (regression), or one row per length (token tasks)."""
  if _kind(results) == "arithmetic":
    return evaluate_arithmetic.table(results)
  if _kind(results) == "lengths":
    return evaluate_lengths.table(results)
  s = summarize(results)
  cols = [("error/model", "model"), ("error/ridge", "ridge"),
          ("error/dmmse", "dMMSE"), ("error/ols", "OLS"),
          ("delta/ridge", "Δ ridge"), ("delta/dmmse", "Δ dMMSE")]
  rows = [[dist] + [s.get(f"{dist}/{key}") for key, _ in cols]
          for dist in results]
  return markdown_table(["tasks"] + [c for _, c in cols], rows)


def save_plot(results: dict, directory: str, title: str = "") -> None:
  """Writes the run's figure, where its task has one (accuracy per length,
  or an arithmetic accuracy grid)."""
  if _kind(results) == "arithmetic" and len(results["grid"]["len_a"]) * len(
      results["grid"]["len_b"]) > 1:
    evaluate_arithmetic.plot({"model": results},
                             f"{directory}/accuracy_grid.png", title)
  if _kind(results) == "lengths":
    evaluate_lengths.plot({"model": results},
                          f"{directory}/accuracy_vs_length.png", title)


def build(model, task, eval_cfg, key: jax.Array, positions=None):
  """The evaluator for ``task``: ``evaluate(params) -> results``.

  ``positions``: a batch transform for evaluation position ids, or None.
  """
  if isinstance(task, regression.RegressionTask):
    return make_regression_evaluator(model, task, eval_cfg.batch_size, key)
  if isinstance(task, ArithmeticTask):
    return evaluate_arithmetic.ArithmeticEvaluator(model, task, eval_cfg, key,
                                                   positions)
  if isinstance(task, SequenceTask):
    return evaluate_lengths.LengthEvaluator(model, task, eval_cfg, key,
                                            positions)
  raise ValueError(f"no evaluator for task type {type(task).__name__}")
