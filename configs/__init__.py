"""Presets: values only. Every default lives with the component that owns
the field (a task dataclass, ``icl.models.ModelConfig``, ...); a preset
starts from those sections and sets what its experiment changes.

Every config file defines ``get_config("PRESET[,CHOICE]")``: PRESET is
``cpu`` (default, minutes on 2 cores) or ``paper``; ``parse_arg`` reads it.
"""

import os

import ml_collections

from icl import models, optimizers, schema, sharding
from icl import tasks as tasks_lib
from icl import members
from icl.errors import ConfigError

PRESETS = ("cpu", "paper")


def path(name: str) -> str:
  """The installed file of preset module ``name`` (e.g. ``"regression"``),
  for a ``--config`` default that works from any directory."""
  return os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      f"{name}.py")


def parse_arg(arg: str | None, file: str, what: str | None = None,
              choices=(), default: str | None = None) -> tuple[str, str]:
  """(preset, choice) from a ``PRESET[,CHOICE]`` config argument."""
  preset, _, choice = (arg or "cpu").partition(",")
  choice = choice or default
  if preset not in PRESETS:
    raise ConfigError(f"{file} preset must be one of {PRESETS}, got "
                     f"{preset!r}")
  if what is None and choice:
    raise ConfigError(f"{file} takes no choice after the preset, got "
                     f"{choice!r}")
  if what is not None and choices and choice not in choices:
    raise ConfigError(f"{file} {what} must be one of {sorted(choices)}, got "
                     f"{choice!r}")
  return preset, choice


def run_config(task, eval_, **sections):
  """A whole config: ``task`` and ``eval`` sections, plus every other
  section at its defaults (``sections`` replaces any of them)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = task
  c.model = sections.pop("model", None) or models.section()
  c.optimizer = sections.pop("optimizer", None) or optimizers.section()
  c.train = sections.pop("train", None) or schema.train_section()
  c.eval = eval_
  c.evals = ()  # evaluator names; () runs the task's default_evals
  c.mesh = sharding.section()  # data parallel over every device
  # Train K models in one vmapped program: one value per member, e.g.
  # --config.ensemble.num_tasks="(4,16,64)".
  c.ensemble = members.section(tasks_lib.REGISTRY[task.name])
  if sections:
    raise TypeError(f"unknown sections {sorted(sections)}")
  return c
