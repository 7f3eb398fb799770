"""copy: repeat the prompt. ``3 1 4 SEP 3 1 4``."""

import dataclasses

import jax

from icl.tasks.sequence import SequenceTask


@dataclasses.dataclass(frozen=True)
class CopyTask(SequenceTask):
  alphabet: int = 16  # distinct symbols; repeats are allowed

  @property
  def num_symbols(self):
    return self.alphabet

  def prompt_length(self, n):
    return n

  def answer_length(self, n):
    return n

  def example(self, key, n, max_n):
    prompt = jax.random.randint(key, (max_n,), 0, self.alphabet)
    return prompt, prompt
