"""Optimizer and learning-rate schedule from the ``optimizer`` config section."""

from __future__ import annotations

import dataclasses

import optax

from icl import fields
from icl.errors import invalid

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("triangle", "warmup_cosine", "constant")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  name: str = "adam"  # or "adamw", "sgd"
  learning_rate: float = 1e-3
  schedule: str = "warmup_cosine"  # or "triangle", "constant"
  warmup_fraction: float = 0.1
  weight_decay: float = 0.0  # 'adamw' only
  b1: float = 0.9
  b2: float = 0.999
  grad_clip_norm: float = 1.0  # 0 disables clipping

  @classmethod
  def from_config(cls, optimizer_cfg) -> "OptimizerConfig":
    return fields.build(cls, optimizer_cfg, "optimizer", "the optimizer")

  def validate(self) -> None:
    fields.one_of("optimizer.name", self.name, OPTIMIZERS)
    fields.one_of("optimizer.schedule", self.schedule, SCHEDULES)
    fields.positive_number("optimizer.learning_rate", self.learning_rate)
    fields.unit_interval("optimizer.warmup_fraction", self.warmup_fraction,
                         closed=True)
    fields.non_negative_number("optimizer.weight_decay", self.weight_decay)
    if self.weight_decay and self.name != "adamw":
      raise invalid("optimizer.weight_decay", self.weight_decay,
                    f"0 with optimizer.name={self.name!r} (weight decay "
                    "needs 'adamw')")
    fields.unit_interval("optimizer.b1", self.b1)
    fields.unit_interval("optimizer.b2", self.b2)
    fields.non_negative_number("optimizer.grad_clip_norm",
                               self.grad_clip_norm)


def section(**values):
  """A ``config.optimizer`` section: every field's default, updated."""
  return fields.section(OptimizerConfig, **values)


def schedule(cfg, total_steps: int) -> optax.Schedule:
  """``triangle``: linear up over warmup_fraction of the steps, linear down to
  0 (the one-cycle schedule of Raventós et al.); ``warmup_cosine``: linear up,
  cosine down to 0; ``constant``: linear up, then flat."""
  peak = cfg.learning_rate
  warmup = max(1, int(cfg.warmup_fraction * total_steps))
  if cfg.schedule == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, peak, warmup,
                                              max(total_steps, warmup + 1))
  down = (optax.linear_schedule(peak, 0.0, max(1, total_steps - warmup))
          if cfg.schedule == "triangle" else optax.constant_schedule(peak))
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, warmup), down], [warmup])


def build(cfg, total_steps: int) -> optax.GradientTransformation:
  lr = schedule(cfg, total_steps)
  if cfg.name == "adam":
    opt = optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
  elif cfg.name == "adamw":
    opt = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
  else:
    opt = optax.sgd(lr)
  if cfg.grad_clip_norm:
    opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), opt)
  return opt
