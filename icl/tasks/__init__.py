"""Synthetic tasks, built from config by name."""

import dataclasses

from icl.tasks import sorting
from icl.tasks.arithmetic.task import ArithmeticTask
from icl.tasks.base import Batch, Task
from icl.tasks.copy import CopyTask
from icl.tasks.count import CountTask
from icl.tasks.mixture import MixtureTask
from icl.tasks.parity import ParityTask
from icl.tasks.regression import RegressionTask
from icl.tasks.reverse import ReverseTask
from icl.tasks.sequence import SequenceTask

REGISTRY: dict[str, type[Task]] = {
    "regression": RegressionTask,
    "copy": CopyTask,
    "reverse": ReverseTask,
    "parity": ParityTask,
    "count": CountTask,
    "sort": sorting.SortTask,
    "successor": sorting.SuccessorTask,
    "predecessor": sorting.PredecessorTask,
    "count_smaller": sorting.CountSmallerTask,
    "parity_smaller": sorting.ParitySmallerTask,
    "fill": sorting.FillTask,
    "mixture": MixtureTask,
    "arithmetic": ArithmeticTask,
}
# Fields of ``task`` that configure the mixture itself, not its components.
MIXTURE_FIELDS = ("name", "components", "weights")

__all__ = ["ArithmeticTask", "Batch", "Task", "REGISTRY", "RegressionTask", "SequenceTask",
           "MixtureTask", "build", "field_names"]


def field_names(name: str) -> set[str]:
  return {f.name for f in dataclasses.fields(REGISTRY[name])}


def _component(name: str, task_cfg) -> Task:
  accepted = field_names(name)
  return REGISTRY[name](**{k: v for k, v in task_cfg.items()
                           if k in accepted and k not in MIXTURE_FIELDS})


def build(task_cfg) -> Task:
  """The task a validated ``config.task`` section describes.

  A mixture passes every other field of the section to each component that
  has it (``num_values`` to all the sorting tasks, for example).
  """
  if task_cfg.name != "mixture":
    fields = {k: tuple(v) if isinstance(v, list) else v
              for k, v in task_cfg.items() if k != "name"}
    return REGISTRY[task_cfg.name](**fields)
  names = tuple(task_cfg.components)
  return MixtureTask(
      min_length=task_cfg.min_length, max_length=task_cfg.max_length,
      components=tuple(_component(n, task_cfg) for n in names),
      names=names, weights=tuple(float(w) for w in task_cfg.weights))
