"""Length generalization on token tasks: train short, test long.

Launch:
    python -m icl.main --config=configs/sequences.py --workdir=runs/copy
    python -m icl.main --config=configs/sequences.py:cpu,reverse \
        --config.model.positional=rope --workdir=runs/reverse_rope
    python -m icl.main --config=configs/sequences.py \
        --config.model.randomized_positions=256 --workdir=runs/copy_rand

The ``:arg`` is ``PRESET[,TASK]``: PRESET is ``cpu`` (default; a 2-layer,
width-64 model, a few minutes on 2 CPU cores) or ``paper`` (Kazemnejad et
al. 2023's split: train on lengths <= 20, test up to 40, with a larger model
and longer training); TASK is one of copy (default), reverse, parity,
parity_scratchpad, count. ``--config.task.name`` switches between tasks with
the same fields (copy <-> reverse).

After training, ``results.json`` holds exact match and per-token accuracy
for every length in [eval.min_length, eval.max_length], and
``accuracy_vs_length.png`` plots them with the training range shaded.
``--config.evals="('lengths','decoded_lengths')"`` adds the same numbers
from KV-cache greedy decoding.
"""

import ml_collections

from icl.configs import PRESETS, parse_arg, run_config
from icl import evaluators, models, optimizers, schema, tasks

__all__ = ["PRESETS", "TASKS", "get_config", "token_config"]

# Task name -> (registry name, its own fields).
TASKS = {
    "copy": ("copy", dict(alphabet=16)),
    "reverse": ("reverse", dict(alphabet=16)),
    "parity": ("parity", dict(scratchpad=False)),
    "parity_scratchpad": ("parity", dict(scratchpad=True)),
    "count": ("count", dict(max_number=63)),
}


def token_config(preset: str, task, eval_=None) -> ml_collections.ConfigDict:
  """The token-task defaults shared by sequences, sorting and arithmetic:
  a small model, AdamW, and the cpu or paper scale."""
  c = run_config(
      task, eval_ or evaluators.section(
          tasks.REGISTRY[task.name], batch_size=64,  # examples per length
          min_length=1, max_length=40),
      # max_len: rows of a learned position table.
      model=models.section(num_layers=2, d_model=64, num_heads=4,
                           positional="none", max_len=128),
      optimizer=optimizers.section(name="adamw", warmup_fraction=0.05,
                                   b2=0.98),
      train=schema.train_section(steps=3000, batch_size=64, log_every=100,
                                 keep_checkpoints=2))
  if preset == "paper":
    c.model.update(num_layers=6, d_model=256, num_heads=8)
    c.train.update(steps=40_000, batch_size=128, log_every=500,
                   eval_every=5000, checkpoint_every=5000)
    c.eval.batch_size = 256
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset, choice = parse_arg(arg, "configs/sequences.py", "task", TASKS,
                             "copy")
  name, values = TASKS[choice]
  # max_length: the longest training length.
  task = tasks.REGISTRY[name].section(name, min_length=1, max_length=20,
                                      **values)
  return token_config(preset, task)
