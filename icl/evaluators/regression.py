"""The regression evaluator (``regression``).

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
import jax
import jax.numpy as jnp
import numpy as np

from icl import files, sharding
from icl.data import chunks
from icl.evaluators.base import Evaluator, Result, sample_batch
from icl.metrics import markdown_table
from icl.tasks import regression
from icl.tasks.regression import baselines

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
  out = {}
  for name in names:
    # Keyed on the task without M and the pool seed (dMMSE's pool size M
    # is a shape), so ensemble members share the programs.
    shared, values = task.split_members(
        keep=("num_tasks",) if name == "dmmse" else ())
    out[name] = jax.block_until_ready(_baseline(shared, name, batch, values))
  return out


@functools.partial(jax.jit, static_argnums=(0, 1))
def _baseline(shared: regression.RegressionTask, name: str, batch,
              values) -> jax.Array:
  task = shared.with_values(values)
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


class RegressionEvaluator(Evaluator):
  """``evaluate(params) -> RegressionResult``: curves on the pool and on
  Gaussian tasks.

  Call it (the first time) under the run's mesh, if any: the batches are
  sampled sharded along ``batch``, like training batches.
  """

  eval_fields = {"batch_size": 1024}
  needs = ("true_distribution",)

  def __init__(self, model, task, eval_cfg, key, positions=None):
    super().__init__(model, task, eval_cfg, key, positions)
    self.dists = {"pretrain": task, "true": task.true_distribution()}
    self.keys = {name: jax.random.fold_in(key, i)
                 for i, name in enumerate(self.dists)}
    self.setup = {}

  def _prepare(self):
    for name, dist in self.dists.items():
      batch = sample_batch(dist, self.batch_size, self.keys[name])
      # The pool prior defines dMMSE on both distributions: pass the task.
      self.setup[name] = (batch, regression_baselines(self.task, batch))

  def __call__(self, params) -> "RegressionResult":
    if not self.setup:
      self._prepare()
    return RegressionResult({
        name: jax.tree.map(np.asarray, _curves(
            self.model, self.task.dim, params, batch, preds))
        for name, (batch, preds) in self.setup.items()})


@functools.partial(jax.jit, static_argnums=(0, 1))
def _curves(model, dim, params, batch, baseline_preds):
  out_BT = chunks.forward(model, params, batch)
  return regression_curves(regression.predictions_at_x(out_BT),
                           baseline_preds, batch.extras["clean_targets"], dim)


class RegressionResult(Result):
  """``data[dist][group][predictor]``: a [K] curve over context positions,
  for dist in (pretrain, true), group in (error, delta)."""

  plot_file = "error_vs_position.png"

  def summary(self) -> dict[str, float]:
    """Means over positions: ``{'true/error/model': ..., ...}``."""
    return {f"{dist}/{group}/{name}": float(np.mean(curve))
            for dist, groups in self.data.items()
            for group, curves in groups.items()
            for name, curve in curves.items()}

  def table(self) -> str:
    """One row per distribution, errors and gaps averaged over K."""
    s = self.summary()
    cols = [("error/model", "model"), ("error/ridge", "ridge"),
            ("error/dmmse", "dMMSE"), ("error/ols", "OLS"),
            ("delta/ridge", "Δ ridge"), ("delta/dmmse", "Δ dMMSE")]
    rows = [[dist] + [s.get(f"{dist}/{key}") for key, _ in cols]
            for dist in self.data]
    return markdown_table(["tasks"] + [c for _, c in cols], rows)

  def plot(self, path: str, title: str = "") -> None:
    """Error / D against context position, per distribution: the
    paper's figure."""
    from matplotlib.figure import Figure  # no pyplot state: notebook-safe
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, len(self.data), sharey=True, squeeze=False)[0]
    for ax, (dist, groups) in zip(axes, self.data.items()):
      for name, curve in groups["error"].items():
        ax.plot(np.arange(1, len(curve) + 1), curve, marker=".",
                label=name, lw=2 if name == "model" else 1)
      ax.set_title(f"{dist} tasks")
      ax.set_xlabel("context position k")
      ax.set_yscale("log")
    axes[0].set_ylabel("error / D")
    axes[-1].legend(fontsize=7)
    if title:
      fig.suptitle(title)
    fig.tight_layout()
    files.save_figure(fig, path)
