"""The Batch pytree and the Task interface.

A task turns ``(key, batch_size, length)`` into a ``Batch`` with a pure,
jit-able ``sample``. Training calls it inside the compiled step with
``fold_in(data_key, step)``, so the batch at step t depends only on
``(seed, t)``: runs are reproducible and resumable with no input pipeline.
"""

from __future__ import annotations

import abc
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


class Task(abc.ABC):
  """A data generator plus the loss that goes with it.

  Subclasses are frozen dataclasses (hashable: jit closes over them).
  """

  # What the model must accept and produce; read by the model builder.
  input_kind: str  # "vector" or "tokens"
  head: str  # "scalar" or "logits"
  # Fields an ensemble may vary per member; ``sample`` must accept traced
  # values for them.
  ensemble_fields: tuple[str, ...] = ()

  @property
  def input_dim(self) -> int:
    return 0

  @property
  def vocab_size(self) -> int:
    return 0

  @abc.abstractmethod
  def sequence_length(self, length: int | None = None) -> int:
    """Tokens in one sequence for a problem of the given length."""

  @abc.abstractmethod
  def sample(self, key: jax.Array, batch_size: int,
             length: int | None = None) -> Batch:
    """A batch from the training distribution; pure and jit-able."""

  @abc.abstractmethod
  def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
    """Scalar training loss from model outputs."""
