"""Ensembles: K models trained by one vmapped program.

``config.ensemble`` lists, per member, the values that differ; every field
left unset is shared and taken from the rest of the config:

    ensemble.seed = (0, 1, 2, 3)            # the run's seed, per member
    ensemble.num_tasks = (4, 16, 64, -1)    # any of task.ensemble_fields

Member k is exactly the single-model run of ``member_configs(config)[k]``:
the same data stream, initialization, evaluation batches and baselines. Only
the arithmetic is batched, so results agree to float32 rounding.
"""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from icl.errors import ConfigError


def _given(config) -> dict[str, tuple]:
  section = config.get("ensemble") or {}
  return {name: tuple(values) for name, values in section.items()
          if values is not None}


def size(config) -> int:
  """K, the number of members; 0 for a plain single-model run."""
  lengths = {len(v) for v in _given(config).values()}
  return lengths.pop() if len(lengths) == 1 else 0


def validate(config, task) -> int:
  """Checks the section's shape; the values are checked member by member."""
  allowed = ("seed",) + tuple(task.ensemble_fields)
  given = _given(config)
  for name, values in (config.get("ensemble") or {}).items():
    if name not in allowed:
      raise ConfigError(f"ensemble.{name} must be absent: members of a "
                        f"{config.task.name!r} ensemble may differ only in "
                        f"{list(allowed)}")
    if values is not None and (not isinstance(values, (tuple, list))
                               or not values):
      raise ConfigError(f"ensemble.{name} must be a non-empty tuple with one "
                        f"value per member, got {values!r}")
  lengths = {name: len(v) for name, v in given.items()}
  if len(set(lengths.values())) > 1:
    raise ConfigError(f"ensemble fields must all have one value per member "
                      f"(the same length), got lengths {lengths}")
  return size(config)


def member_configs(config) -> list[ml_collections.ConfigDict]:
  """The single-model config of every member (empty if not an ensemble)."""
  given = _given(config)
  members = []
  for k in range(size(config)):
    member = ml_collections.ConfigDict(config.to_dict())
    for name, values in given.items():
      if name == "seed":
        member.seed = values[k]
      else:
        member.task[name] = values[k]
      member.ensemble[name] = None
    members.append(member)
  return members


def member_variables(config) -> dict[str, Any]:
  """What the vmapped step maps over: int32 [K] arrays of the varied values.

  ``{"seed": [K], "task": {"num_tasks": [K], ...}}``; a field nobody varies
  is broadcast from the config, so every member has every entry.
  """
  members = member_configs(config)
  given = _given(config)
  return {
      "seed": np.array([m.seed for m in members], np.int32),
      "task": {name: np.array([m.task[name] for m in members], np.int32)
               for name in given if name != "seed"},
  }


def varied(config, k: int) -> dict[str, Any]:
  """Member k's values of the varied fields, e.g. ``{"num_tasks": 16}``."""
  return {name: values[k] for name, values in _given(config).items()}


def describe(config, k: int) -> str:
  return ", ".join(f"{n}={v}" for n, v in varied(config, k).items())


def single_member(config) -> dict[str, Any]:
  """The same structure for a plain run, as static Python values."""
  return {"seed": config.seed, "task": {}}
