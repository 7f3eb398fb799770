"""One validated description of a run, from a config.

Each component checks its own section: the task (``Task.validate``), the
evaluators (the ``eval`` section), the model, the optimizer, the mesh, the
ensemble. What remains here are the run's own fields (``seed``,
``train``) and the cross-checks, which read facts the components declare
(the longest sequence and position id a task needs, an encoding's position
capacity and the ids it reads), never their types.

``validate(config)`` returns a ``Run``, which the training loop receives,
so a sweep validates each arm once. Every error is a ``ConfigError`` that
names the field, the value and what is allowed, raised before anything
compiles.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import ml_collections

from icl import evaluators, fields, files, sharding, smoke, tasks
from icl.data import transforms
from icl.errors import ConfigError, invalid
from icl.models.config import ModelConfig
from icl.optimizers import OptimizerConfig
from icl import members as members_lib

REQUIRED_SECTIONS = ("task", "model", "optimizer", "train", "eval", "mesh")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The ``train`` section: how long the loop runs and how often it
  reports."""

  steps: int = 4000
  batch_size: int = 128
  log_every: int = 200
  eval_every: int = 1000
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  # Tokens per row chunk of a step (icl/data/chunks.py): the same loss and
  # gradients, with a working set that stays in cache. 0: the whole batch.
  chunk_tokens: int = 1024

  def validate(self) -> None:
    for f in dataclasses.fields(self):
      if f.name != "chunk_tokens":
        fields.positive_int(f"train.{f.name}", getattr(self, f.name))
    fields.int_at_least("train.chunk_tokens", self.chunk_tokens, 0,
                        "an int >= 0 (0: the whole batch at once)")


def train_section(**values) -> ml_collections.ConfigDict:
  return fields.section(TrainConfig, **values)


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything a run needs, checked. ``members`` always lists the
  models trained (one for a plain run); ``stacked`` says whether they
  train as one vmapped ensemble with a leading model axis."""

  config: ml_collections.ConfigDict
  task: tasks.Task
  model: ModelConfig
  optimizer: OptimizerConfig
  train: TrainConfig
  evals: tuple[str, ...]
  members: tuple[members_lib.Member, ...]
  stacked: bool
  train_positions: Any = None  # batch transforms (icl.data.transforms)
  eval_positions: Any = None

  @property
  def seed(self) -> int:
    return self.config.seed


def validate(config, num_devices: int | None = None) -> Run:
  """Checks the whole config; ``num_devices`` (default: all of them) is
  what the mesh must fill. An already validated ``Run`` passes through."""
  if isinstance(config, Run):
    return config
  for section in REQUIRED_SECTIONS:
    if section not in config:
      raise invalid(section, None, "a config section")
  if smoke.enabled():
    config = smoke.shrink(config)
  if not fields.is_int(config.get("seed")):
    raise invalid("seed", config.get("seed"), "an int")
  task = tasks.build(config.task)
  task.validate()
  evals = evaluators.validate(config, task)
  task.validate_eval(config.eval)
  model = ModelConfig.from_config(config.model)
  model.validate()
  check_positions(model, task, config, evals)
  optimizer = OptimizerConfig.from_config(config.optimizer)
  optimizer.validate()
  train = fields.build(TrainConfig, config.train, "train", "train")
  train.validate()
  members = members_lib.validate(config, task)
  sharding.validate(config.mesh, jax.device_count() if num_devices is None
                    else num_devices)
  train_positions, eval_positions = transforms.from_config(model)
  return Run(config=config, task=task, model=model, optimizer=optimizer,
             train=train, evals=evals, members=members,
             stacked=members_lib.is_ensemble(config),
             train_positions=train_positions,
             eval_positions=eval_positions)


def validate_arms(configs: dict, name=str) -> dict:
  """``{arm: Run}`` for a sweep's ``{arm: config}``, every arm checked
  before any trains; a bad one raises ConfigError prefixed with
  ``arm {name(arm)}``. In smoke mode only the first few arms are
  returned, to train."""
  runs = {}
  for arm, config in configs.items():
    try:
      runs[arm] = validate(config)
    except ConfigError as e:
      raise ConfigError(f"arm {name(arm)}: {e}") from None
  return smoke.arms(runs)


def check_positions(model: ModelConfig, task, config, evals) -> None:
  """Randomized positions and position-table coverage, from the facts the
  task and the encoding declare."""
  longest, source = task.longest_sequence(config.eval)
  randomized = model.randomized_positions
  if randomized and randomized < longest:
    raise invalid("model.randomized_positions", randomized,
                  f"0 or at least {longest}, the tokens in the longest "
                  f"sequence ({source}): position ids are drawn without "
                  f"repeats from [0, L_max)")
  if (model.randomized_positions_at_eval
      and not evaluators.transforms_positions(evals)):
    raise invalid("model.randomized_positions_at_eval", True,
                  f"False for task {config.task.name!r} (its evaluator uses "
                  "ordered positions)")
  encoding = model.encoding
  if encoding.reads != "tokens" and task.position_ids != encoding.reads:
    raise invalid("model.positional", model.positional,
                  f"used with {encoding.reads_from} (the encoding reads "
                  f"{encoding.reads}), or another encoding")
  limit = encoding.max_positions(model)
  needed, why = ((randomized, f"model.randomized_positions={randomized}")
                 if randomized else task.position_need(config.eval))
  if limit is not None and needed > limit:
    raise ConfigError(
        f"model.max_len must be at least {needed} for "
        f"model.positional={model.positional!r}, to hold a position id for "
        f"the {why}, got {limit}; raise model.max_len or use an encoding "
        f"without a table")


def validate_workdir(workdir) -> None:
  """A path this process may write a run directory at (it may not exist
  yet; missing parents are created). Only a local path can be checked
  here; an object store (``gs://...``) answers when written to."""
  if not workdir or not isinstance(workdir, (str, os.PathLike)):
    raise invalid("workdir", workdir,
                  "a non-empty directory path (--workdir=DIR)")
  workdir = os.fspath(workdir)
  if not files.is_local(workdir):
    return
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise invalid("workdir", workdir, "a directory (this path is a file)")
  existing = workdir
  while not os.path.exists(existing):
    existing = os.path.dirname(os.path.abspath(existing))
  if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
    raise invalid("workdir", workdir,
                  f"a directory this process can write ({existing!r} is not "
                  "writable)")
