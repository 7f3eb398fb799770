"""Abacus embeddings (McLeish et al. 2024): a learned table over digit ids.

The ids are data: the arithmetic task writes each digit's index within its
number (``task.positions='abacus'``), or its significance
(``'coupled'``), and shifts them by a random training offset. The encoding
itself is a learned absolute table read at those ids, so what makes it
Abacus is the ids it is given; attention gets no other position signal.
"""

from icl.models.positional.learned import LearnedPositionalEncoding


class AbacusPositionalEncoding(LearnedPositionalEncoding):
  """A learned table over digit ids; ``model.max_len`` rows."""

  reads = "digit ids"
  reads_from = "task.positions='abacus' or 'coupled'"
