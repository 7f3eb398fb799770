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
"""

import ml_collections
from ml_collections.config_dict import placeholder

from icl import sharding

PRESETS = ("cpu", "paper")
# Task name -> (registry name, its own fields).
TASKS = {
    "copy": ("copy", dict(alphabet=16)),
    "reverse": ("reverse", dict(alphabet=16)),
    "parity": ("parity", dict(scratchpad=False)),
    "parity_scratchpad": ("parity", dict(scratchpad=True)),
    "count": ("count", dict(max_number=63)),
}


def parse_arg(arg: str | None, file: str, what: str, choices,
              default: str) -> tuple[str, str]:
  """(preset, choice) from a ``PRESET[,CHOICE]`` config argument."""
  preset, _, choice = (arg or "cpu").partition(",")
  choice = choice or default
  if preset not in PRESETS:
    raise ValueError(f"{file} preset must be one of {PRESETS}, got "
                     f"{preset!r}")
  if choice not in choices:
    raise ValueError(f"{file} {what} must be one of {sorted(choices)}, got "
                     f"{choice!r}")
  return preset, choice


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset, task = parse_arg(arg, "configs/sequences.py", "task", TASKS,
                           "copy")
  c = ml_collections.ConfigDict()
  c.seed = 0

  name, fields = TASKS[task]
  c.task = ml_collections.ConfigDict(dict(
      name=name,
      min_length=1,
      max_length=20,  # the longest training length
      **fields,
  ))

  c.model = ml_collections.ConfigDict(dict(
      num_layers=2,
      d_model=64,
      num_heads=4,
      mlp_ratio=4,
      positional="none",  # see icl/models/positional: learned, rope, ...
      max_len=128,  # rows of a learned position table
      length_temperature=0.0,  # beta: logits x (1 + beta log n); 0 is off
      learn_temperature=False,
      # L_max of randomized positions (Ruoss et al. 2023); 0 is off.
      randomized_positions=0,
      randomized_positions_at_eval=False,
      dropout_rate=0.0,
      kernel_init="lecun",
      dtype="float32",
  ))

  c.optimizer = ml_collections.ConfigDict(dict(
      name="adamw",
      learning_rate=1e-3,
      schedule="warmup_cosine",
      warmup_fraction=0.05,
      weight_decay=0.0,
      b1=0.9,
      b2=0.98,
      grad_clip_norm=1.0,
  ))

  c.train = ml_collections.ConfigDict(dict(
      steps=3000,
      batch_size=64,
      log_every=100,
      eval_every=1000,
      checkpoint_every=1000,
      keep_checkpoints=2,
  ))

  c.eval = ml_collections.ConfigDict(dict(
      batch_size=64,  # examples per length
      min_length=1,
      max_length=40,
  ))

  c.mesh = ml_collections.ConfigDict(dict(
      shape=sharding.default_shape(),
      rules=sharding.default_rules(),
  ))
  c.ensemble = ml_collections.ConfigDict(dict(seed=placeholder(tuple)))

  if preset == "paper":
    c.model.update(num_layers=6, d_model=256, num_heads=8, dropout_rate=0.0)
    c.train.update(steps=40_000, batch_size=128, log_every=500,
                   eval_every=5000, checkpoint_every=5000)
    c.eval.batch_size = 256
  return c
