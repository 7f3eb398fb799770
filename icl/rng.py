"""Named random streams split from one seed.

Every consumer of randomness (params, data, tasks, eval, dropout,
positions) gets its own
stream ``fold_in(key(seed), id(name))``. Two streams never share a key even
when their seeds are equal, e.g. ``seed=0`` and ``task.pool_seed=0``.
"""

import zlib

import jax

STREAMS = ("params", "data", "tasks", "eval", "dropout", "positions")


def stream(seed: int, name: str) -> jax.Array:
  if name not in STREAMS:
    raise ValueError(f"unknown random stream {name!r}; known: {STREAMS}")
  return jax.random.fold_in(jax.random.key(seed), zlib.crc32(name.encode()))
