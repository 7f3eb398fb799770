"""Synthetic tasks, built from config by name."""

from icl.tasks.base import Batch, Task
from icl.tasks.regression import RegressionTask

REGISTRY: dict[str, type[Task]] = {
    "regression": RegressionTask,
}

__all__ = ["Batch", "Task", "REGISTRY", "RegressionTask", "build"]


def build(task_cfg) -> Task:
  """The task a validated ``config.task`` section describes."""
  fields = {k: v for k, v in task_cfg.items() if k != "name"}
  return REGISTRY[task_cfg.name](**fields)
