"""The evaluator interface and the typed result every evaluator returns.

An evaluator is built once per run (and per ensemble member) from the
model, the task, the ``eval`` config section and the eval random stream;
calling it on parameters gives a ``Result``. A result knows its summary
scalars (logged and compared across runs), its markdown table, its JSON
form (``results.json``) and its plot, so nothing downstream needs to know
which evaluator made it.
"""

from __future__ import annotations

import abc
from typing import Any

import jax

from icl import fields, once, sharding
from icl.files import to_json


def sample_batch(task, batch_size: int, key: jax.Array):
  """A fixed evaluation batch of ``task``, sharded along ``batch``.

  The program is keyed on the task without its ensemble fields, which it
  takes as traced values (``Task.split_members``): the members of an
  ensemble, and a task's pretraining and Gaussian distributions, share one
  compile instead of one each.
  """
  shared, values = task.split_members()
  return _sample(shared, batch_size, values, key)


@once.jit(static_argnums=(0, 1))
def _sample(shared, batch_size, values, key):
  return sharding.constrain_batch(
      shared.with_values(values).sample(key, batch_size))


class Result(abc.ABC):
  """What one evaluator measured at one step: ``data``, a dict of arrays,
  lists and numbers, with the views below."""

  # File the plot goes to in the run directory; None: no plot.
  plot_file: str | None = None

  def __init__(self, data: dict[str, Any]):
    self.data = data

  @abc.abstractmethod
  def summary(self) -> dict[str, float]:
    """Flat scalars, e.g. ``{'true/error/model': 0.41}``."""

  @abc.abstractmethod
  def table(self) -> str:
    """Markdown for a reader."""

  def brief(self) -> str:
    """What a run prints when it ends: the table, unless a shorter view
    reads better (results.md always holds the whole table)."""
    return self.table()

  def to_json(self) -> dict[str, Any]:
    """Everything measured, as JSON-ready Python values."""
    return to_json(self.data)

  def plot(self, path: str, title: str = "") -> None:
    """Writes the figure to ``path`` (only called when ``plot_file``)."""
    del path, title

  def __getitem__(self, key: str):
    """``result['exact_match']``: an entry of ``data``."""
    return self.data[key]


class DataResult(Result):
  """A Result whose views are module-level functions of its data dict, so
  that sweeps can apply them to results read back from JSON: subclasses
  set ``views = (summarize, table, plot)``, where ``plot`` takes
  ``{label: data}``, a path and a title."""

  views: tuple = ()

  def summary(self) -> dict[str, float]:
    return self.views[0](self.data)

  def table(self) -> str:
    return self.views[1](self.data)

  def plot(self, path: str, title: str = "") -> None:
    self.views[2]({"model": self.data}, path, title)


class Evaluator(abc.ABC):
  """``evaluator(params) -> Result``.

  Class attributes declare what the evaluator needs, so that configs are
  checked before anything compiles:
  - ``eval_fields``: the ``eval`` fields it reads, with their defaults;
  - ``needs``: task attributes it calls (it applies to tasks that have
    them all);
  - ``transforms_positions``: whether it applies the evaluation position
    transform (``model.randomized_positions_at_eval``).
  """

  eval_fields: dict[str, Any] = {"batch_size": 64}
  needs: tuple[str, ...] = ()
  transforms_positions: bool = False

  def __init__(self, model, task, eval_cfg, key: jax.Array,
               positions=None):
    self.model, self.task, self.key = model, task, key
    self.batch_size = eval_cfg.batch_size
    self.positions = positions

  @classmethod
  def applies_to(cls, task) -> bool:
    """``task``: a Task class or instance (read on its class, so that no
    property, such as a dataset, is computed)."""
    task_cls = task if isinstance(task, type) else type(task)
    return all(hasattr(task_cls, name) for name in cls.needs)

  @classmethod
  def validate(cls, eval_cfg, task) -> None:
    """Raises ConfigError for a bad value of a field it reads."""
    del task
    fields.positive_int("eval.batch_size", eval_cfg.batch_size)

  @abc.abstractmethod
  def __call__(self, params) -> Result:
    ...

