"""reverse: the prompt backwards. ``3 1 4 SEP 4 1 3``."""

import dataclasses

import jax.numpy as jnp

from icl.tasks.sequence.layout import AlphabetTask


@dataclasses.dataclass(frozen=True)
class ReverseTask(AlphabetTask):

  def example(self, key, n, max_n):
    prompt = self.random_prompt(key, max_n)
    return prompt, jnp.take(prompt, jnp.clip(n - 1 - jnp.arange(max_n), 0))
