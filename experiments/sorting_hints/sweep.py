"""Sorting with task hints (Awasthi & Gupta 2023): does a hint help sort long?

    python -m icl.experiments.run --sweep=sorting_hints:cpu --workdir=runs/sorting_hints

Every arm trains ``configs/sorting.py``'s preset on sorting lengths 1..20
(the same model, steps and learning rate) and is scored on sorting alone
at every length to 100. An arm's name says how it differs from ``none``
(sorting alone):

- ``{hint}``: the hint task mixed in at equal weight. Sorting then gets
  half the examples and half the loss.
- ``{hint}_2x``: the equal-sorting-data control. The batch is doubled and
  each task's mean loss is added in full (``task.mix_loss='sum'``), so
  sorting gets as many examples, with as much weight, as in ``none``.
- ``..._rep``: values drawn with repeats (``task.repeats=True``), the
  setting of the paper's 92.6%.
- ``..._temp``: a learned length temperature per head (beta from 0).
- ``..._learned``: learned absolute positions instead of none (NoPE).

The hints are successor, predecessor, count, parity and fill
(``icl/tasks/sorting/tasks.py``). Each arm's seeds train as one ensemble;
after training, a probe measures where each head's attention peaks at
every output step (``icl/tasks/sorting/successor.py``).
"""

from icl import models, rng
from icl.configs import sorting
from icl.errors import ConfigError
from icl.experiments.sorting_hints import report
from icl.sweep import Sweep
from icl.tasks.sorting import successor

PRESETS = ("cpu", "paper")
# In the order they train: the comparisons the paper makes first, then
# learned absolute positions (a setting where plain sorting may fail past
# the trained lengths), then the other hints.
ARMS = ("none", "successor", "successor_2x", "none_rep", "successor_rep",
        "successor_2x_rep", "none_learned", "successor_learned",
        "predecessor", "count", "parity", "fill", "successor_temp")
PROBE_LENGTHS = (10, 20, 50, 100)


def arm_config(preset: str, arm: str):
  """The config an arm name describes (see the module docstring)."""
  hint, *variants = arm.split("_")
  if hint not in sorting.HINTS:
    raise ConfigError(f"arm {arm!r}: the hint must be one of "
                      f"{sorted(sorting.HINTS)}")
  config = sorting.get_config(f"{preset},{hint}")
  for variant in variants:
    if variant == "2x":
      if hint == "none":
        raise ConfigError(f"arm {arm!r}: '2x' is the control of a hint arm")
      config.train.batch_size *= 2
      config.task.mix_loss = "sum"
    elif variant == "rep":
      config.task.repeats = True
    elif variant == "temp":
      config.model.learn_temperature = True
    elif variant == "learned":
      config.model.positional = "learned"
    else:
      raise ConfigError(f"arm {arm!r} has an unknown variant {variant!r}; "
                        "known: 2x, rep, temp, learned")
  return config


def probe(member, params) -> dict:
  """Successor-attention statistics of one trained member."""
  config = member.config
  lengths = [n for n in PROBE_LENGTHS if n <= config.eval.max_length]
  model = models.build(config.model, member.task)
  return successor.successor_attention(model, params, member.task, lengths,
                                       rng.stream(config.seed, "eval"),
                                       config.eval.batch_size)


def get_sweep(preset: str = "cpu") -> Sweep:
  return Sweep("sorting_hints", {arm: arm_config(preset, arm) for arm in ARMS},
               seeds=(0, 1, 2), headline="mean", analyze=probe,
               report=report.write,
               description=f"Awasthi & Gupta 2023, {preset} preset")
