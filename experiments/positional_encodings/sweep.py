"""Positional encodings and length generalization (Kazemnejad et al. 2023).

    python -m icl.experiments.run --sweep=positional_encodings:cpu --workdir=runs/positional_encodings

An arm is ``TASK.ENCODING``: copy or reverse over 16 symbols, trained on
problem lengths 1..20 and tested at every length 1..40, with
``model.positional`` set to the encoding and nothing else changed. Every
arm trains the same number of steps and is evaluated every ``eval_every``
steps, so the report can say when (if ever) its exact match on the
training lengths first reached ``CRITERION``; its numbers beyond training
are those at the end, after equal compute. Each arm's seeds train as one
ensemble.

``cpu``: 4 layers x 64, 4 heads (NoPE did not learn copy at 2 x 64;
``README.md`` has the search), batch 64, 6000 steps. ``paper``:
``configs/sequences.py``'s paper preset (6 x 256, 40k steps).
"""

from icl.configs import sequences
from icl.errors import ConfigError
from icl.experiments.positional_encodings import report
from icl.models import positional
from icl.sweep import Sweep

PRESETS = ("cpu", "paper")
TASKS = ("copy", "reverse")
# Kazemnejad et al.'s five, then learned absolute positions and FIRE.
ENCODINGS = ("none", "t5", "alibi", "rope", "sinusoidal", "learned", "fire")
CRITERION = 0.99  # exact match on the training lengths


def arm_config(preset: str, arm: str):
  """The config of arm ``TASK.ENCODING``."""
  task, _, encoding = arm.partition(".")
  if task not in TASKS:
    raise ConfigError(f"arm {arm!r}: the task must be one of {list(TASKS)}")
  if encoding not in positional.REGISTRY:
    raise ConfigError(f"arm {arm!r}: the encoding must be one of "
                      f"{sorted(positional.REGISTRY)}")
  config = sequences.get_config(f"{preset},{task}")
  config.model.positional = encoding
  if preset == "cpu":
    config.model.update(num_layers=4, d_model=64, num_heads=4)
    config.train.update(steps=6000, eval_every=500, checkpoint_every=1000,
                        log_every=250)
  return config


def get_sweep(preset: str = "cpu") -> Sweep:
  arms = {f"{t}.{e}": arm_config(preset, f"{t}.{e}")
          for t in TASKS for e in ENCODINGS}
  return Sweep("positional_encodings", arms, seeds=(0, 1, 2),
               headline="mean", report=report.write,
               description=f"Kazemnejad et al. 2023, {preset} preset")
