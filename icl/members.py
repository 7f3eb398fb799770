"""The models a run trains: always a list, one member for a plain run.

``config.ensemble`` lists, per member, the values that differ; every field
left unset is shared and taken from the rest of the config:

    ensemble.seed = (0, 1, 2, 3)            # the run's seed, per member
    ensemble.num_tasks = (4, 16, 64, -1)    # any of task.ensemble_fields

Such a run trains its K members as one vmapped program, and member k is
exactly the single-model run of ``members[k].config``: the same data
stream, initialization, evaluation batches and baselines. Only the
arithmetic is batched, so results agree to float32 rounding.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections
import numpy as np
from ml_collections.config_dict import placeholder

from icl import fields, tasks
from icl.errors import ConfigError, invalid


@dataclasses.dataclass(frozen=True)
class Member:
  config: ml_collections.ConfigDict  # this member's single-model config
  task: tasks.Task
  varied: dict[str, Any]  # e.g. {"seed": 1, "num_tasks": 16}; {} if plain

  @property
  def seed(self) -> int:
    return self.config.seed

  def describe(self) -> str:
    return ", ".join(f"{n}={v}" for n, v in self.varied.items())


def section(task_cls) -> ml_collections.ConfigDict:
  """A ``config.ensemble`` section: every field it may set, unset."""
  return ml_collections.ConfigDict(
      {name: placeholder(tuple)
       for name in ("seed",) + tuple(task_cls.ensemble_fields)})


def _given(config) -> dict[str, tuple]:
  section_ = config.get("ensemble") or {}
  return {name: tuple(values) for name, values in section_.items()
          if values is not None}


def is_ensemble(config) -> bool:
  """Whether the members train stacked (a vmapped leading model axis)."""
  return bool(_given(config))


def validate(config, task) -> tuple[Member, ...]:
  """The members of a config whose task is ``task``; each member's task
  is validated as its own run's would be."""
  allowed = ("seed",) + tuple(task.ensemble_fields)
  for name, values in (config.get("ensemble") or {}).items():
    if name not in allowed:
      raise ConfigError(f"ensemble.{name} must be absent: members of a "
                        f"{config.task.name!r} ensemble may differ only in "
                        f"{list(allowed)}")
    if values is not None and (not isinstance(values, (tuple, list))
                               or not values):
      raise ConfigError(f"ensemble.{name} must be a non-empty tuple with one "
                        f"value per member, got {values!r}")
  given = _given(config)
  lengths = {name: len(v) for name, v in given.items()}
  if len(set(lengths.values())) > 1:
    raise ConfigError(f"ensemble fields must all have one value per member "
                      f"(the same length), got lengths {lengths}")
  if not given:
    return (Member(config, task, {}),)
  members = []
  for k in range(next(iter(lengths.values()))):
    member = ml_collections.ConfigDict(config.to_dict())
    for name, values in given.items():
      if name == "seed":
        if not fields.is_int(values[k]):
          raise invalid(f"ensemble.seed[{k}]", values[k], "an int")
        member.seed = values[k]
      else:
        try:
          member.task[name] = values[k]
        except TypeError:  # ConfigDict keeps a field's type
          raise invalid(f"ensemble.{name}[{k}]", values[k],
                        f"of task.{name}'s type "
                        f"({type(config.task[name]).__name__})") from None
      member.ensemble[name] = None
    try:
      member_task = tasks.build(member.task)
      member_task.validate()
    except ConfigError as e:
      raise ConfigError(f"ensemble member {k}: {e} (from the ensemble "
                        f"section)") from None
    members.append(Member(member, member_task,
                          {name: values[k] for name, values in
                           given.items()}))
  return tuple(members)


def variables(members, stacked: bool) -> dict[str, Any]:
  """What the step maps over: ``{"seed": [K], "task": {"num_tasks": [K],
  ...}}`` int32 arrays of the varied values for stacked members, or the
  one member's static values."""
  if not stacked:
    return {"seed": members[0].seed, "task": {}}
  varied = [n for n in members[0].varied if n != "seed"]
  return {
      "seed": np.array([m.seed for m in members], np.int32),
      "task": {n: np.array([m.config.task[n] for m in members], np.int32)
               for n in varied},
  }
