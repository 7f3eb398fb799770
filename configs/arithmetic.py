"""Multi-digit arithmetic on a finite training set (Lee et al. 2023 and the
length-generalization papers).

Launch:
    python -m icl.main --config=configs/arithmetic.py --workdir=runs/add
    python -m icl.main --config=configs/arithmetic.py:cpu,reverse \\
        --config.task.num_train=4000 --config.task.train_size=4000 \\
        --workdir=runs/add_reverse_4k
    python -m icl.main --config=configs/arithmetic.py:paper,scratchpad \\
        --workdir=runs/add_scratch

The ``:arg`` is ``PRESET[,FORMAT]``. PRESET is ``cpu`` (default: 3-digit
addition, a 2-layer width-128 model, minutes on 2 CPU cores) or ``paper``
(Lee et al. 2023's NanoGPT, 6 x 384, and their protocol: a stream of
concatenated examples cut into 256-token windows, loss on every token,
``$`` only around the reversed format). FORMAT is any format of
``icl/tasks/arithmetic/formats.py``, e.g. ``plain`` (default), ``reverse``,
``reverse_all+index_hints`` or ``scratchpad``.

The dataset (``task.train_size`` training problems, ``task.test_size``
disjoint test problems) is built once under ``task.data_dir`` (default
``$ICL_DATA_DIR`` or ``~/.cache/icl/datasets``); ``results.json`` records
its name, version and SHA-256. ``task.num_train`` trains on the first N
(at most ``task.train_size``).
"""

import ml_collections

from icl.configs import PRESETS, parse_arg
from icl.configs.sequences import token_config
from icl import evaluators
from icl.errors import ConfigError
from icl.tasks.arithmetic import ArithmeticTask, formats

__all__ = ["PRESETS", "get_config"]


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset, fmt = parse_arg(arg, "configs/arithmetic.py", "format",
                          default="plain")
  try:
    formats.parse_parts(fmt)
  except ValueError as e:
    raise ConfigError(f"configs/arithmetic.py format {fmt!r}: {e}") from None
  # Defaults (ArithmeticTask): 1..3-digit addition balanced by carries
  # (Lee et al.), 1000 training and 1000 disjoint test problems.
  c = token_config(preset, ArithmeticTask.section("arithmetic", format=fmt),
                   evaluators.section(ArithmeticTask, batch_size=256))
  c.model.update(num_layers=2, d_model=128, num_heads=4,
                 positional="learned", max_len=256)
  c.optimizer.update(learning_rate=1e-3, b2=0.99, weight_decay=0.1)
  c.train.update(steps=2500, batch_size=128, log_every=100, eval_every=2500,
                 checkpoint_every=2500)
  if preset == "paper":
    c.task.update(packing="stream", loss_on="all", delimiters="paper",
                  num_train=10_000, train_size=10_000, test_size=10_000)
    c.model.update(num_layers=6, d_model=384, num_heads=6, dropout_rate=0.2,
                   max_len=512)
    c.train.update(steps=5000, batch_size=256, log_every=100,
                   eval_every=5000, checkpoint_every=5000)
    c.eval.batch_size = 1024
  return c
