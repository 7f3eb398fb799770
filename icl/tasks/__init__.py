"""Synthetic tasks, built from config by name."""

from icl.tasks.base import Batch, Task
from icl.tasks.copy import CopyTask
from icl.tasks.count import CountTask
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
}

__all__ = ["Batch", "Task", "REGISTRY", "RegressionTask", "SequenceTask",
           "build"]


def build(task_cfg) -> Task:
  """The task a validated ``config.task`` section describes."""
  fields = {k: v for k, v in task_cfg.items() if k != "name"}
  return REGISTRY[task_cfg.name](**fields)
