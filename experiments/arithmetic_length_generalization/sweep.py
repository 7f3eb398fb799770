"""Length generalization in addition: train on 1..k digits, test to 2k.

    python -m icl.experiments.run --sweep=arithmetic_length_generalization:cpu --workdir=runs/arithmetic_length_generalization

Arms, the positional schemes of the literature:

- ``plain_absolute``: plain format, learned absolute positions.
- ``reverse_hints``: operands and answer reversed, with index hints
  (Zhou et al. 2023); no positional encoding (NoPE).
- ``zhou2024``: Zhou et al. 2024's whole recipe: FIRE, randomized
  positions, the reversed format and index hints.
- ``abacus``: reversed operands and answer with Abacus digit ids and a
  random training offset (McLeish et al. 2024); NoPE attention.

Training problems: operand lengths uniform over the (len_a, len_b) buckets
of 1..k (McLeish et al.'s sampling), loss on the answer, one example per
sequence. Test: a disjoint split over the 1..2k grid, exact match of greedy
decoding per cell. Each arm's seeds train as one ensemble.

``cpu``: k = 5, 2 layers x 128, 3000 steps of 128. ``paper``: k = 20,
6 x 384, 20k steps of 256.
"""

from icl.configs import arithmetic
from icl.errors import ConfigError
from icl.experiments.arithmetic_length_generalization import report
from icl.sweep import Sweep

PRESETS = {
    # k, model, steps, batch, train problems, test problems
    "cpu": dict(k=5, layers=2, width=128, heads=4, steps=3000, batch=128,
                train_size=20_000, test_size=2000),
    "paper": dict(k=20, layers=6, width=384, heads=6, steps=20_000,
                  batch=256, train_size=200_000, test_size=40 * 40 * 20),
}
RANDOMIZED_MAX = 256  # L_max of randomized positions
ARMS = {
    "plain_absolute": dict(task=dict(format="plain"),
                           model=dict(positional="learned")),
    "reverse_hints": dict(task=dict(format="reverse_all+index_hints"),
                          model=dict(positional="none")),
    "zhou2024": dict(task=dict(format="reverse_all+index_hints"),
                     model=dict(positional="fire",
                                randomized_positions=RANDOMIZED_MAX)),
    "abacus": dict(task=dict(format="reverse_all", positions="abacus"),
                   model=dict(positional="abacus")),
}


def arm_config(preset: str, arm: str):
  if arm not in ARMS:
    raise ConfigError(f"arm {arm!r} must be one of {list(ARMS)}")
  p = PRESETS[preset]
  k = p["k"]
  c = arithmetic.get_config(f"{preset},plain")
  c.task.update(digits_a=(1, k), digits_b=(1, k), sampling="lengths",
                test_digits_a=(1, 2 * k), test_digits_b=(1, 2 * k),
                test_sampling="lengths", train_size=p["train_size"],
                num_train=p["train_size"], test_size=p["test_size"],
                packing="example", loss_on="answer", delimiters="equal",
                # Training offsets reach ids and hints of 2k-digit numbers.
                max_offset=k + 2)
  c.model.update(num_layers=p["layers"], d_model=p["width"],
                 num_heads=p["heads"], dropout_rate=0.0,
                 max_len=max(RANDOMIZED_MAX, 8 * k + 16))
  c.train.update(steps=p["steps"], batch_size=p["batch"],
                 eval_every=p["steps"], checkpoint_every=p["steps"])
  c.task.update(**ARMS[arm]["task"])
  c.model.update(**ARMS[arm]["model"])
  if c.task.positions == "default" and "index_hints" not in c.task.format:
    c.task.max_offset = 0  # nothing to shift
  return c


def get_sweep(preset: str = "cpu") -> Sweep:
  return Sweep("arithmetic_length_generalization",
               {arm: arm_config(preset, arm) for arm in ARMS},
               seeds=(0, 1, 2), headline="mean", report=report.write,
               description=f"{preset} preset")
