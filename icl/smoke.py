"""Smoke mode: ``ICL_SMOKE=1`` runs any command as written, at toy size.

Every run trains a 1-layer, width-16 model for 2 steps on batches of 8,
evaluates on batches of 8 (and whatever else its task's ``smoke_fields``
say) with every length padded to one width (one compile per length
evaluator, see ``icl/evaluators/lengths.py``), and a sweep trains only its
first :data:`MAX_ARMS` arms (every arm is still validated) and an ensemble its
first :data:`MAX_ARMS` members. Everything else (task, encoding, eval
lengths, files written) is the command's own, so a smoke run exercises the
same code path. The README-commands test runs every documented command
this way; its numbers mean nothing.
"""

import os

import ml_collections

from icl import tasks

ENV = "ICL_SMOKE"
MAX_ARMS = 2

_SIZES = {
    "model": {"num_layers": 1, "d_model": 16, "num_heads": 2},
    "train": {"steps": 2, "batch_size": 8, "log_every": 1, "eval_every": 2,
              "checkpoint_every": 2},
}


def enabled() -> bool:
  return os.environ.get(ENV, "") not in ("", "0")


def shrink(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A toy-size copy of ``config`` (``config`` itself may be locked)."""
  small = ml_collections.ConfigDict(config.to_dict())
  for section, values in _SIZES.items():
    if section in small:
      small[section].update(values)
  task_cls = tasks.REGISTRY.get(small.get("task", {}).get("name"))
  if task_cls is not None:
    small.task.update(task_cls.smoke_fields)
  if "batch_size" in small.get("eval", {}):
    small.eval.batch_size = 8
  for name, values in (small.get("ensemble") or {}).items():
    if isinstance(values, (tuple, list)):  # anything else fails validation
      small.ensemble[name] = tuple(values)[:MAX_ARMS]
  return small


def arms(runs: dict) -> dict:
  """A sweep's ``{arm: run}``, cut to its first :data:`MAX_ARMS` in smoke
  mode."""
  return dict(list(runs.items())[:MAX_ARMS]) if enabled() else runs
