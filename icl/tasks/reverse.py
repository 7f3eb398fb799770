"""reverse: the prompt backwards. ``3 1 4 SEP 4 1 3``."""

import dataclasses

import jax
import jax.numpy as jnp

from icl.tasks.sequence import SequenceTask


@dataclasses.dataclass(frozen=True)
class ReverseTask(SequenceTask):
  alphabet: int = 16

  @property
  def num_symbols(self):
    return self.alphabet

  def prompt_length(self, n):
    return n

  def answer_length(self, n):
    return n

  def example(self, key, n, max_n):
    prompt = jax.random.randint(key, (max_n,), 0, self.alphabet)
    return prompt, jnp.take(prompt, jnp.clip(n - 1 - jnp.arange(max_n), 0))
