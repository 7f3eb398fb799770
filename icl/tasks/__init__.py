"""Synthetic tasks, built from config by name.

One package per family (``regression/``, ``sequence/``, ``sorting/``,
``arithmetic/``, ``functions/``) holds its tasks, datasets and analyses, and lists its
tasks in a ``TASKS`` table. Adding a family is one package and one line
below.
"""

from __future__ import annotations

from icl import fields
from icl.data.batch import Batch
from icl.tasks import arithmetic, functions, regression, sequence, sorting
from icl.tasks.base import Task

REGISTRY: dict[str, type[Task]] = {
    **regression.TASKS,
    **sequence.TASKS,
    **sorting.TASKS,
    **arithmetic.TASKS,
    **functions.TASKS,
}

__all__ = ["Batch", "REGISTRY", "Task", "build"]


def build(task_cfg) -> Task:
  """The task a ``config.task`` section describes (its fields checked by
  name; values are checked by ``Task.validate``)."""
  fields.one_of("task.name", task_cfg.get("name"), REGISTRY)
  return REGISTRY[task_cfg.name].from_config(task_cfg)
