"""count (Zhou et al. 2023): from a start to an end number, one token each.

``5 9 SEP 5 6 7 8 9`` for n = 5. Numbers are single tokens 0..max_number,
and the start is uniform over the values that keep the end in range.
"""

import dataclasses

import jax
import jax.numpy as jnp

from icl.errors import invalid
from icl.tasks.sequence.layout import SequenceTask


@dataclasses.dataclass(frozen=True)
class CountTask(SequenceTask):
  max_number: int = 63  # must be at least the longest length - 1

  @property
  def num_symbols(self):
    return self.max_number + 1

  def check_config(self, longest):
    if (not isinstance(self.max_number, int) or isinstance(self.max_number, bool)
        or self.max_number < 1):
      raise invalid("task.max_number", self.max_number, "a positive int")
    if self.max_number + 1 < longest:
      raise invalid("task.max_number", self.max_number,
                    f"at least {longest - 1}, so that a count of length "
                    f"{longest} (task.max_length or eval.max_length) fits in "
                    "the numbers")

  def prompt_length(self, n):
    return 2 + 0 * n

  def answer_length(self, n):
    return n

  def example(self, key, n, max_n):
    start = jax.random.randint(key, (), 0, self.max_number + 2 - n)
    return jnp.stack([start, start + n - 1]), start + jnp.arange(max_n)
