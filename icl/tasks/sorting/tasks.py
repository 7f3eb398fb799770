"""Sorting and its hint tasks (Awasthi & Gupta 2023).

All of them read a sequence x of n integers from [0, num_values), drawn
uniformly with repeats or, with ``repeats=False``, as n distinct values. They
share one vocabulary, so they can be mixed (``icl/tasks/sequence/mixture.py``):

    values 0 .. V-1, then NONE (V), FILL (V+1) and QUERY (V+2).

- ``sort``:        ``x SEP sorted(x)``                 e.g. ``7 2 9 SEP 2 7 9``
- ``successor``:   ``x QUERY q SEP s``, s the smallest element of x larger
                   than q, or NONE when q is the largest ``7 2 9 QUERY 2 SEP 7``
- ``predecessor``: the largest element smaller than q, or NONE
- ``count_smaller``:  how many elements of x are smaller than q, as a value
                   token (so it needs num_values >= the longest length)
- ``parity_smaller``: that count mod 2, as the value token 0 or 1
- ``fill``:        ``x SEP FILL FILL ...``, n FILL tokens: the output length
                   without its content

The query q is an element of x chosen uniformly by position. With repeats,
"larger" and "smaller" are strict, so the successor of a repeated value is
the next *different* value; that keeps every answer a function of (x, q).
The paper names the successor, predecessor, count, parity and fill hints
without defining parity and count exactly; these are our definitions.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl.errors import invalid
from icl.tasks.sequence.layout import SequenceTask


@dataclasses.dataclass(frozen=True)
class SortingFamily(SequenceTask):
  """The shared values and vocabulary of sorting and its hints."""

  num_values: int = 128
  repeats: bool = False

  @property
  def num_symbols(self):
    return self.num_values + 3

  @property
  def none(self):
    return self.num_values

  @property
  def fill(self):
    return self.num_values + 1

  @property
  def query(self):
    return self.num_values + 2

  def symbol_name(self, symbol: int) -> str:
    extra = ("NONE", "FILL", "QUERY")
    return str(symbol) if symbol < self.num_values else extra[
        symbol - self.num_values]

  def values(self, key: jax.Array, max_n: int) -> jax.Array:
    """max_n values; the first n of them are the sequence for any n."""
    if self.repeats:
      return jax.random.randint(key, (max_n,), 0, self.num_values)
    return jax.random.permutation(key, self.num_values)[:max_n]

  def check_config(self, longest: int) -> None:
    if not isinstance(self.num_values, int) or self.num_values < 2:
      raise invalid("task.num_values", self.num_values, "an int >= 2")
    if not isinstance(self.repeats, bool):
      raise invalid("task.repeats", self.repeats, "True or False")
    if not self.repeats and self.num_values < longest:
      raise invalid("task.num_values", self.num_values,
                    f"at least {longest}, the longest sequence "
                    "(task.max_length or eval.max_length), when "
                    "task.repeats=False: a sequence without repeats needs "
                    "that many distinct values")


@dataclasses.dataclass(frozen=True)
class SortTask(SortingFamily):

  def prompt_length(self, n):
    return n

  def answer_length(self, n):
    return n

  def example(self, key, n, max_n):
    x = self.values(key, max_n)
    # Values past n sort after every real one, behind the first n.
    real = jnp.arange(max_n) < n
    return x, jnp.sort(jnp.where(real, x, self.num_values))


@dataclasses.dataclass(frozen=True)
class FillTask(SortTask):
  """Sorting's layout with every answer token replaced by FILL."""

  def example(self, key, n, max_n):
    return self.values(key, max_n), jnp.full((max_n,), self.fill)


@dataclasses.dataclass(frozen=True)
class QueryHint(SortingFamily):
  """``x QUERY q SEP answer``: a one-token answer about an element q of x."""

  def prompt_length(self, n):
    return n + 2

  def answer_length(self, n):
    return 1 + 0 * n

  def answer(self, x, real, q):
    raise NotImplementedError

  def example(self, key, n, max_n):
    value_key, query_key = jax.random.split(key)
    x = self.values(value_key, max_n)
    real = jnp.arange(max_n) < n
    q = x[jax.random.randint(query_key, (), 0, n)]
    i = jnp.arange(max_n + 2)
    padded = jnp.concatenate([x, jnp.zeros((2,), x.dtype)])
    prompt = jnp.where(i < n, padded, jnp.where(i == n, self.query, q))
    return prompt, jnp.reshape(self.answer(x, real, q), (1,))


@dataclasses.dataclass(frozen=True)
class SuccessorTask(QueryHint):

  def answer(self, x, real, q):
    # NONE is num_values, above every value: the min is NONE when none is
    # larger.
    return jnp.min(jnp.where(real & (x > q), x, self.none))


@dataclasses.dataclass(frozen=True)
class PredecessorTask(QueryHint):

  def answer(self, x, real, q):
    below = jnp.max(jnp.where(real & (x < q), x, -1))
    return jnp.where(below < 0, self.none, below)


@dataclasses.dataclass(frozen=True)
class CountSmallerTask(QueryHint):

  def answer(self, x, real, q):
    return jnp.sum(real & (x < q))

  def check_config(self, longest: int) -> None:
    super().check_config(longest)
    if self.num_values < self.max_length:
      raise invalid("task.num_values", self.num_values,
                    f"at least task.max_length={self.max_length} for the "
                    "count_smaller task, whose answer (a count up to n-1) is "
                    "a value token")


@dataclasses.dataclass(frozen=True)
class ParitySmallerTask(QueryHint):

  def answer(self, x, real, q):
    return jnp.sum(real & (x < q)) % 2
