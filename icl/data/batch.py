"""The Batch pytree: what every task produces and the model consumes."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class Batch:
  """One batch. Shapes: B batch, T sequence, F features.

  inputs: float [B, T, F] (vector tasks) or int32 [B, T] (token tasks).
  targets: [B, T] regression targets or token ids.
  loss_mask: float [B, T], 1 where the loss counts.
  positions: int32 [B, T] position ids fed to the positional encoding.
  extras: per-task arrays, e.g. the regression task vectors ``w`` [B, D].
  """

  inputs: jax.Array
  targets: jax.Array
  loss_mask: jax.Array
  positions: jax.Array
  extras: dict[str, Any] = flax.struct.field(default_factory=dict)
