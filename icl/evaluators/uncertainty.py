"""The ``uncertainty`` evaluator of a probabilistic head (Liu et al. 2024):
how well the predicted Gaussians describe y.

Per context position, on fixed evaluation batches (noisy targets, as the
model is trained):

- ``nll``: the mean Gaussian negative log-likelihood of the targets;
- ``coverage_50`` and ``coverage_90``: the fraction of targets inside the
  central 50% and 90% intervals, mean ± z·sd (calibrated: 0.5 and 0.9);
- where the task knows its Bayes posterior predictive
  (``FunctionTask.bayes_predictive``; noisy linear regression with Gaussian
  tasks): the same scores for it, and ``nll_gap``, the model's NLL minus
  the Bayes NLL (0 for a Bayes-optimal predictor).
"""

from __future__ import annotations

import functools
import statistics

import jax
import jax.numpy as jnp
import numpy as np

from icl import files
from icl.data import chunks
from icl.errors import invalid
from icl.evaluators.base import DataResult, Evaluator, sample_batch
from icl.metrics import markdown_table
from icl.tasks.functions.task import gaussian, gaussian_nll
from icl.tasks.regression import predictions_at_x, split_tokens

LEVELS = (0.5, 0.9)


def coverage(mean, variance, target, level: float) -> jax.Array:
  """Whether each target lies in the central ``level`` interval of
  N(mean, variance)."""
  # The standard library's quantile: scipy.stats costs 0.6 s to import.
  z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
  return jnp.abs(target - mean) <= z * jnp.sqrt(variance)


def scores(mean_BK, variance_BK, target_BK) -> dict[str, list[float]]:
  """Per-position NLL and interval coverage."""
  out = {"nll": np.mean(gaussian_nll(mean_BK, variance_BK, target_BK),
                        axis=0).tolist()}
  for level in LEVELS:
    out[f"coverage_{int(level * 100)}"] = np.mean(
        coverage(mean_BK, variance_BK, target_BK, level), axis=0).tolist()
  return out


class UncertaintyEvaluator(Evaluator):

  eval_fields = {"batch_size": 256}
  needs = ("sample_functions",)

  @classmethod
  def validate(cls, eval_cfg, task) -> None:
    super().validate(eval_cfg, task)
    if not task.probabilistic:
      raise invalid("task.probabilistic", False,
                    "True for the uncertainty evaluator (it scores a "
                    "predicted mean and variance)")

  def __init__(self, model, task, eval_cfg, key, positions=None):
    super().__init__(model, task, eval_cfg, key, positions)
    self.batch = None
    self.bayes = None

  def __call__(self, params) -> "UncertaintyResult":
    if self.batch is None:
      self.batch = sample_batch(self.task, self.batch_size, self.key)
      self.bayes = self.task.bayes_predictive(
          *split_tokens(self.batch.inputs))
    mean_BK, var_BK = _head(self.model, params, self.batch)
    _, y_BK = split_tokens(self.batch.inputs)
    data = {"positions": list(range(1, y_BK.shape[1] + 1)),
            "model": scores(mean_BK, var_BK, y_BK)}
    if self.bayes is not None:
      data["bayes"] = scores(*self.bayes, y_BK)
    return UncertaintyResult(data)


@functools.partial(jax.jit, static_argnums=0)
def _head(model, params, batch):
  return gaussian(predictions_at_x(chunks.forward(model, params, batch)))


def summarize(data: dict) -> dict[str, float]:
  out = {f"{k}/model": float(np.mean(v)) for k, v in data["model"].items()}
  if "bayes" in data:
    out |= {f"{k}/bayes": float(np.mean(v))
            for k, v in data["bayes"].items()}
    out["nll_gap"] = out["nll/model"] - out["nll/bayes"]
  return out


def table(data: dict) -> str:
  who = [w for w in ("model", "bayes") if w in data]
  keys = list(data["model"])
  rows = [[k] + [data[w][key][i] for w in who for key in keys]
          for i, k in enumerate(data["positions"])]
  return markdown_table(["k"] + [f"{key} ({w})" for w in who for key in keys],
                        rows)


def plot(data_by_label: dict, path: str, title: str = "") -> None:
  from matplotlib.figure import Figure
  data = next(iter(data_by_label.values()))
  fig = Figure(figsize=(10, 3.6))
  nll_ax, cov_ax = fig.subplots(1, 2)
  for who in (w for w in ("model", "bayes") if w in data):
    nll_ax.plot(data["positions"], data[who]["nll"], marker=".", label=who)
    for level in LEVELS:
      key = f"coverage_{int(level * 100)}"
      cov_ax.plot(data["positions"], data[who][key], marker=".",
                  label=f"{who}, {int(level * 100)}%")
  for level in LEVELS:
    cov_ax.axhline(level, color="0.6", lw=0.8, ls="--")
  nll_ax.set(xlabel="context position k", ylabel="Gaussian NLL")
  cov_ax.set(xlabel="context position k", ylabel="interval coverage",
             ylim=(0, 1))
  nll_ax.legend(fontsize=7)
  cov_ax.legend(fontsize=7)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  files.save_figure(fig, path)


class UncertaintyResult(DataResult):

  views = (summarize, table, plot)  # in a tuple: never bound as methods

  plot_file = "uncertainty.png"
