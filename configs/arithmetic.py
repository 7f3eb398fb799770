"""Multi-digit arithmetic on a finite training set (Lee et al. 2023 and the
length-generalization papers).

Launch:
    python -m icl.main --config=configs/arithmetic.py --workdir=runs/add
    python -m icl.main --config=configs/arithmetic.py:cpu,reverse \\
        --config.task.num_train=4000 --workdir=runs/add_reverse_4k
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
its name, version and SHA-256. ``task.num_train`` trains on the first N.
"""

import ml_collections
from ml_collections.config_dict import placeholder

from configs import sequences
from icl.tasks.arithmetic import formats

PRESETS = sequences.PRESETS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset, _, fmt = (arg or "cpu").partition(",")
  fmt = fmt or "plain"
  if preset not in PRESETS:
    raise ValueError(f"configs/arithmetic.py preset must be one of "
                     f"{PRESETS}, got {preset!r}")
  try:
    formats.parse_parts(fmt)
  except ValueError as e:
    raise ValueError(f"configs/arithmetic.py format {fmt!r}: {e}") from None
  c = sequences.get_config(preset)
  c.task = ml_collections.ConfigDict(dict(
      name="arithmetic",
      op="+",
      digits_a=(1, 3),
      digits_b=(1, 3),
      sampling="carries",  # Lee et al.: balanced by number of carries
      format=fmt,
      delimiters="equal",  # 'paper': Lee et al.'s $..$ on reverse only
      positions="default",  # or 'abacus', 'coupled'
      max_offset=0,  # random training offset of digit ids and hints
      num_hints=0,
      packing="example",  # or 'stream' (Lee et al.)
      loss_on="answer",  # or 'all'
      window=256,  # tokens per row with packing='stream'
      num_train=1000,
      train_size=1000,
      test_digits_a=(1, 3),
      test_digits_b=(1, 3),
      test_sampling="carries",
      test_size=1000,
      data_seed=0,
      data_dir="",
  ))
  c.model.update(num_layers=2, d_model=128, num_heads=4,
                 positional="learned", max_len=256)
  c.optimizer.update(learning_rate=1e-3, b2=0.99, weight_decay=0.1)
  c.train.update(steps=2500, batch_size=128, log_every=100, eval_every=2500,
                 checkpoint_every=2500)
  c.eval = ml_collections.ConfigDict(dict(
      batch_size=256,  # test problems decoded at once
      temperature=0.0,  # 0: greedy decoding; > 0 samples
  ))
  # Members of one vmapped run may differ in seed and num_train.
  c.ensemble.num_train = placeholder(tuple)
  if preset == "paper":
    c.task.update(packing="stream", loss_on="all", delimiters="paper",
                  num_train=10_000, train_size=10_000, test_size=10_000)
    c.model.update(num_layers=6, d_model=384, num_heads=6, dropout_rate=0.2,
                   max_len=512)
    c.train.update(steps=5000, batch_size=256, log_every=100,
                   eval_every=5000, checkpoint_every=5000)
    c.eval.batch_size = 1024
  return c
