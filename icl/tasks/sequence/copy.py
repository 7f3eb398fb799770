"""copy: repeat the prompt. ``3 1 4 SEP 3 1 4``."""

import dataclasses

from icl.tasks.sequence.layout import AlphabetTask


@dataclasses.dataclass(frozen=True)
class CopyTask(AlphabetTask):

  def example(self, key, n, max_n):
    prompt = self.random_prompt(key, max_n)
    return prompt, prompt
