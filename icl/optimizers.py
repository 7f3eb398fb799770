"""Optimizer and learning-rate schedule from the ``optimizer`` config section."""

from __future__ import annotations

import optax

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("triangle", "warmup_cosine", "constant")


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
