"""Sorting with task hints (Awasthi & Gupta 2023): train short, sort long.

Launch:
    python -m icl.main --config=configs/sorting.py --workdir=runs/sort
    python -m icl.main --config=configs/sorting.py:cpu,successor \\
        --workdir=runs/sort_successor
    python -m icl.main --config=configs/sorting.py:cpu,successor \\
        --config.model.length_temperature=0.5 --workdir=runs/sort_succ_temp

The ``:arg`` is ``PRESET[,HINT]``. PRESET is ``cpu`` (default: a small model
that trains in minutes on 2 CPU cores) or ``paper`` (a larger model and
longer training, for an accelerator). HINT is ``none`` (default: standard
training on sorting alone) or one of successor, predecessor, count, parity,
fill: the hint task is mixed in with ``task.weights`` (sort first). See
``icl/tasks/sorting/tasks.py`` for what each task asks.

Every run trains on lengths 1..20 and reports exact match and per-token
accuracy on sorting at every length up to ``eval.max_length`` (100);
``--config.evals="('lengths','decoded_lengths')"`` reports decoded exact
match beside the teacher-forced one.
"""

import ml_collections

from icl.configs import PRESETS, parse_arg
from icl.configs.sequences import token_config
from icl import evaluators
from icl.tasks.sequence import MixtureTask

__all__ = ["HINTS", "PRESETS", "get_config"]

# Hint name -> registry name of the hint task.
HINTS = {
    "none": None,
    "successor": "successor",
    "predecessor": "predecessor",
    "count": "count_smaller",
    "parity": "parity_smaller",
    "fill": "fill",
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset, hint = parse_arg(arg, "configs/sorting.py", "hint", HINTS, "none")
  components = ("sort",) + ((HINTS[hint],) if HINTS[hint] else ())
  # Weights are each task's example share and loss share; values 0..127.
  task = MixtureTask.section(components=components, min_length=1,
                             max_length=20, num_values=128, repeats=False)
  c = token_config(preset, task, evaluators.section(
      MixtureTask, batch_size=64, min_length=1, max_length=100))
  # NoPE: the paper's decoder appears to use no positional encoding. A
  # learned table would need 203 rows for length 100 (BOS, task token, 100
  # values, SEP, 100 sorted values).
  c.model.update(positional="none", max_len=256)
  if preset == "cpu":
    c.train.update(steps=6000, log_every=200, eval_every=3000)
  else:
    c.train.update(steps=50_000, batch_size=256, log_every=500,
                   eval_every=10_000, checkpoint_every=5000)
    c.eval.batch_size = 256
  return c
