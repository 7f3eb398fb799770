"""Batch transforms: randomized positions (Ruoss et al. 2023) and
position offsets (McLeish et al. 2024).

A transform is ``transform(key, batch) -> batch``, hashable so that jit can
close over it; training and evaluation build theirs from the config
(``from_config``) and apply them after the task samples.

At training time each example's position ids become a sorted random subset
of [0, max_position), one distinct id per real token, so a model trained on
short sequences has seen every position id up to max_position. Any encoding
that reads position ids can use them; the model is not told.

Only an example's real tokens (``extras['num_tokens']``, default all) draw
from the subset, so a short example padded to the batch's width gets a
uniform subset of its own size. Padding takes the id max_position - 1: it
never reaches a real token through the causal mask.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


def sorted_subset(key: jax.Array, num_tokens_B: jax.Array, seq_len: int,
                  max_position: int) -> jax.Array:
  """[B, T] int32: row b starts with num_tokens_B[b] sorted distinct ids
  drawn uniformly from [0, max_position), then padding ids."""
  batch = num_tokens_B.shape[0]

  def one(key, n):
    # The first seq_len ids of a random permutation: any prefix of them is
    # a uniform random subset of that size.
    draw_T = jax.random.permutation(key, max_position)[:seq_len]
    draw_T = jnp.where(jnp.arange(seq_len) < n, draw_T, max_position)
    return jnp.minimum(jnp.sort(draw_T), max_position - 1)

  return jax.vmap(one)(jax.random.split(key, batch), num_tokens_B).astype(
      jnp.int32)


def offset_positions(batch, offset_B1: jax.Array):
  """``batch`` with every non-zero position id shifted by its example's
  offset; id 0 (tokens outside any number, for digit ids) stays 0. Training
  on random offsets trains ids beyond the training lengths."""
  return batch.replace(positions=jnp.where(
      batch.positions > 0, batch.positions + offset_B1, 0))


def randomize(key: jax.Array, batch, max_position: int):
  """``batch`` with randomized position ids."""
  b, t = batch.positions.shape
  num_tokens_B = batch.extras.get("num_tokens",
                                  jnp.full((b,), t, jnp.int32))
  return batch.replace(
      positions=sorted_subset(key, num_tokens_B, t, max_position))


@dataclasses.dataclass(frozen=True)
class RandomizedPositions:
  """``transform(key, batch) -> batch``; hashable, so jit can close over it."""

  max_position: int

  def __call__(self, key: jax.Array, batch):
    return randomize(key, batch, self.max_position)


def from_config(model_cfg) -> tuple[RandomizedPositions | None,
                                    RandomizedPositions | None]:
  """(training, evaluation) position transforms of a ``config.model``
  section or its ``ModelConfig``.

  Evaluation keeps the plain ids 0..T-1 unless
  ``model.randomized_positions_at_eval`` asks for random ones too.
  """
  size = model_cfg.randomized_positions
  if not size:
    return None, None
  transform = RandomizedPositions(size)
  at_eval = model_cfg.randomized_positions_at_eval
  return transform, transform if at_eval else None
