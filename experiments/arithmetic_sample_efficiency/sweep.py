"""Sample efficiency of arithmetic formats (Lee et al. 2023, Figure 2).

    python -m icl.experiments.run --sweep=arithmetic_sample_efficiency:cpu --workdir=runs/arithmetic_sample_efficiency

3-digit addition trained on the first N of one 10,000-problem training
split, N = 1000, 2000, 4000 and 10000, in three formats (plain, reverse and
the simplified scratchpad), under two protocols:

- ``lee``: Lee et al.'s own: the training examples concatenated into one
  stream cut into random windows, loss on every token, ``$`` only around
  the reversed format (plain gets no start delimiter).
- ``clean``: one example per sequence, loss on the answer only, every
  format delimited alike (BOS/EOS).

Both protocols see the same tokens per step: ``lee`` trains on a quarter
as many rows as ``clean``, in windows four times as long as ``clean``'s
longest example. An arm is ``PROTOCOL.FORMAT.N=n``; the arms of one
protocol and format differ only in N (and seed), so they train as one
vmapped ensemble. Test: greedy decoding on a disjoint test split.

``cpu``: 2 layers x 64, 4 heads, 1500 steps of 64 examples (``lee``: 16
windows), 1000 test problems. ``paper``: Lee et al.'s NanoGPT (6 x 384),
5000 steps of 256 examples (``lee``: 64 windows), 10,000 test problems.
"""

from icl import schema
from icl.configs import arithmetic
from icl.errors import ConfigError
from icl.experiments.arithmetic_sample_efficiency import report
from icl.sweep import Sweep

PRESETS = ("cpu", "paper")
SIZES = (1000, 2000, 4000, 10000)
FORMATS = ("plain", "reverse", "scratchpad")
PROTOCOLS = {
    "lee": dict(packing="stream", loss_on="all", delimiters="paper"),
    "clean": dict(packing="example", loss_on="answer", delimiters="equal"),
}
WINDOW_FACTOR = 4  # lee: rows / 4, each 4 times clean's sequence length


def clean_config(preset: str, fmt: str, n: int):
  """One example per sequence, as ``clean`` trains."""
  c = arithmetic.get_config(f"{preset},{fmt}")
  c.task.update(**PROTOCOLS["clean"])
  c.task.update(train_size=max(SIZES), num_train=n)
  if preset == "cpu":
    c.model.update(d_model=64, num_heads=4)
    c.train.update(steps=1500, batch_size=64, eval_every=1500,
                   checkpoint_every=1500)
    c.task.update(test_size=1000)
  else:
    c.train.update(batch_size=256)
    c.task.update(test_size=10_000)
  return c


def arm_config(preset: str, arm: str, clean_length: int | None = None):
  """The config of arm ``PROTOCOL.FORMAT.N=n``. ``clean_length``: the
  sequence length ``clean`` trains this format at (``lee``'s windows are
  sized from it; computed when not given)."""
  try:
    protocol, fmt, size = arm.split(".")
    n = int(size.removeprefix("N="))
  except ValueError:
    raise ConfigError(f"arm {arm!r} must be PROTOCOL.FORMAT.N=n") from None
  if protocol not in PROTOCOLS:
    raise ConfigError(f"arm {arm!r}: the protocol must be one of "
                      f"{list(PROTOCOLS)}")
  c = clean_config(preset, fmt, n)
  if clean_length is None:
    clean_length = schema.validate(c).task.sequence_length()
  window = WINDOW_FACTOR * clean_length
  # Both protocols get the same position table, long enough for a window.
  c.model.max_len = max(c.model.max_len, window)
  if protocol == "lee":
    c.task.update(**PROTOCOLS["lee"])
    c.task.window = window
    c.train.batch_size //= WINDOW_FACTOR
  return c


def get_sweep(preset: str = "cpu") -> Sweep:
  arms = {}
  for fmt in FORMATS:
    length = schema.validate(clean_config(preset, fmt, SIZES[-1])
                             ).task.sequence_length()
    for protocol in PROTOCOLS:
      for n in SIZES:
        arm = f"{protocol}.{fmt}.N={n}"
        arms[arm] = arm_config(preset, arm, length)
  return Sweep("arithmetic_sample_efficiency", arms, seeds=(0, 1, 2),
               headline="mean", report=report.write,
               description=f"Lee et al. 2023, {preset} preset")
