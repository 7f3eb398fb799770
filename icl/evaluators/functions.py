"""The ``functions`` evaluator: the model against every baseline, at every
context position, on fixed evaluation batches of the task as configured
(the curriculum's last stage).

For each predictor p (the model and each baseline) and position k:
``error[p][k]``, the squared error against the noiseless target divided by
the task's scale (d for the linear classes, 1 otherwise, as Garg et al.
report them); ``delta[b][k]``, the same between the model and baseline b
(the distance the training-dynamics view follows); ``zero[k]``, the error
of answering 0 (the chance level); and for ±1 labels,
``accuracy[p][k]``, how often the prediction's sign is the label's.

Baselines do not depend on the parameters: they are computed once per
evaluator. Subclasses (``shifts.py``) change only how the evaluation batch
is drawn and which positions the summary scores.
"""

from __future__ import annotations

import functools
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np

from icl import fields, files
from icl.data import chunks
from icl.errors import invalid
from icl.evaluators.base import DataResult, Evaluator, sample_batch
from icl.metrics import markdown_table
from icl.tasks.functions import baselines as baselines_lib
from icl.tasks.functions.task import gaussian
from icl.tasks.regression import predictions_at_x, split_tokens


class FunctionsEvaluator(Evaluator):
  """``evaluate(params) -> FunctionsResult``."""

  eval_fields = {"batch_size": 256, "baselines": ()}
  needs = ("sample_functions",)
  # Positions the summary averages over: "all", or "last" (shifts that
  # move only the final query).
  scored = "all"

  def __init__(self, model, task, eval_cfg, key, positions=None):
    super().__init__(model, task, eval_cfg, key, positions)
    self.names = tuple(eval_cfg.get("baselines") or ()) or task.baselines
    self.eval_cfg = eval_cfg
    self.setup = None

  @classmethod
  def validate(cls, eval_cfg, task) -> None:
    super().validate(eval_cfg, task)
    names = tuple(eval_cfg.get("baselines") or ()) or task.baselines
    for k, name in enumerate(names):
      fields.one_of(f"eval.baselines[{k}]", name, baselines_lib.REGISTRY)
      library = baselines_lib.REGISTRY[name][2]
      if library and importlib.util.find_spec(library) is None:
        raise invalid(f"eval.baselines[{k}]", name,
                      f"a baseline whose library is installed ({library} "
                      "is not: pip install -e '.[baselines]')")

  def eval_batch(self):
    """The fixed evaluation batch (shifted in subclasses)."""
    return sample_batch(self.task, self.batch_size, self.key)

  def _prepare(self):
    batch = self.eval_batch()
    x_BKD, y_BK = split_tokens(batch.inputs)
    predictions = {}
    for name in self.names:
      fn, in_jax, _ = baselines_lib.REGISTRY[name]
      # Each baseline its own program, finished before the next starts
      # (the XLA:CPU deadlock in icl/evaluators/regression.py).
      predictions[name] = (np.asarray(jax.block_until_ready(
          _jax_baseline(name, x_BKD, y_BK))) if in_jax
          else fn(np.asarray(x_BKD), np.asarray(y_BK)))
    self.setup = (batch, predictions)

  def __call__(self, params) -> "FunctionsResult":
    if self.setup is None:
      self._prepare()
    batch, predictions = self.setup
    model_BK = np.asarray(_model_predictions(self.model, params, batch))
    clean_BK = np.asarray(batch.extras["clean_targets"])
    return FunctionsResult(curves(model_BK, predictions, clean_BK,
                                  self.task, self.scored))


@functools.partial(jax.jit, static_argnums=0)
def _jax_baseline(name, x_BKD, y_BK):
  return baselines_lib.REGISTRY[name][0](x_BKD, y_BK)


@functools.partial(jax.jit, static_argnums=0)
def _model_predictions(model, params, batch):
  """The model's prediction (a Gaussian head's mean) at every x position."""
  out = predictions_at_x(chunks.forward(model, params, batch))
  return gaussian(out)[0] if out.ndim == 3 else out


def curves(model_BK, predictions: dict, clean_BK, task, scored: str
           ) -> dict:
  """The evaluator's data: per-position errors, gaps and accuracies."""
  scale = task.dim if task.error_scale == "dim" else 1
  error = {"model": _mean_square(model_BK, clean_BK, scale)}
  error |= {n: _mean_square(p, clean_BK, scale)
            for n, p in predictions.items()}
  data = {"positions": list(range(1, clean_BK.shape[1] + 1)),
          "error": error, "scale": scale, "scored": scored,
          # What answering 0, the prior's mean, scores: the chance level.
          "zero": _mean_square(0.0, clean_BK, scale),
          "delta": {n: _mean_square(model_BK, p, scale)
                    for n, p in predictions.items()}}
  if task.labels:
    agree = lambda p: np.mean(np.sign(p) == clean_BK, axis=0).tolist()
    data["accuracy"] = {"model": agree(model_BK)} | {
        n: agree(p) for n, p in predictions.items()}
  return data


def _mean_square(a_BK, b_BK, scale) -> list[float]:
  """Mean over the batch of (a - b)^2 / scale, per position."""
  return (np.mean(np.square(np.asarray(a_BK) - np.asarray(b_BK)), axis=0)
          / scale).tolist()


def summarize(data: dict) -> dict[str, float]:
  """Means over the scored positions: ``error/model``, ``delta/knn``,
  ``accuracy/model``, ..."""
  pick = (slice(None) if data["scored"] == "all" else slice(-1, None))
  return {f"{group}/{name}": float(np.mean(curve[pick]))
          for group in ("error", "delta", "accuracy")
          for name, curve in data.get(group, {}).items()}


def table(data: dict) -> str:
  """Error per position (a row each) for the model and every baseline."""
  names = list(data["error"])
  rows = [[k] + [data["error"][n][i] for n in names]
          for i, k in enumerate(data["positions"])]
  unit = "error / d" if data["scale"] != 1 else "squared error"
  return f"{unit} by context position\n\n" + markdown_table(
      ["k"] + names, rows)


def plot(data_by_label: dict, path: str, title: str = "") -> None:
  """Error against context position, model and baselines."""
  from matplotlib.figure import Figure
  fig = Figure(figsize=(5.5, 3.8))
  ax = fig.subplots()
  data = next(iter(data_by_label.values()))
  for name, curve in data["error"].items():
    ax.plot(data["positions"], curve, marker=".", label=name,
            lw=2 if name == "model" else 1)
  ax.set_xlabel("context position k (points seen: k - 1)")
  ax.set_ylabel("error / d" if data["scale"] != 1 else "squared error")
  ax.set_yscale("log")
  ax.legend(fontsize=7)
  if title:
    ax.set_title(title)
  fig.tight_layout()
  files.save_figure(fig, path)


class FunctionsResult(DataResult):

  views = (summarize, table, plot)  # in a tuple: never bound as methods

  plot_file = "error_vs_position.png"
