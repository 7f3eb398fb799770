"""parity: is the number of ones odd? ``1 0 1 1 SEP 1``.

With ``scratchpad`` the answer is every prefix parity, the last one being
the result: ``1 0 1 1 SEP 1 1 0 1``. Each answer token is then one XOR of
the previous answer token and one prompt bit.
"""

import dataclasses

import jax
import jax.numpy as jnp

from icl.errors import invalid
from icl.tasks.sequence.layout import SequenceTask


@dataclasses.dataclass(frozen=True)
class ParityTask(SequenceTask):
  scratchpad: bool = False

  @property
  def num_symbols(self):
    return 2

  def check_config(self, longest):
    if not isinstance(self.scratchpad, bool):
      raise invalid("task.scratchpad", self.scratchpad, "True or False")

  def prompt_length(self, n):
    return n

  def answer_length(self, n):
    return n if self.scratchpad else 1 + 0 * n

  def example(self, key, n, max_n):
    bits = jax.random.randint(key, (max_n,), 0, 2)
    bits = jnp.where(jnp.arange(max_n) < n, bits, 0)
    prefix = jnp.cumsum(bits) % 2
    if self.scratchpad:
      return bits, prefix
    return bits, prefix[-1:]  # zeros past n leave the total unchanged
