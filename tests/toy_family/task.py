"""``constant``: every target is ``value``, whatever the inputs."""

import dataclasses

import jax
import jax.numpy as jnp

from icl import fields
from icl.data import Batch
from icl.errors import invalid
from icl.tasks.base import Task


@dataclasses.dataclass(frozen=True)
class ConstantTask(Task):
  value: float = 3.0
  length: int = 6

  input_kind = "vector"
  head = "scalar"
  default_evals = ("constant_error",)

  @property
  def input_dim(self) -> int:
    return 1

  def validate(self) -> None:
    fields.positive_int("task.length", self.length)
    if not fields.is_number(self.value):
      raise invalid("task.value", self.value, "a finite number")

  def sequence_length(self, length=None) -> int:
    return length or self.length

  def sample(self, key, batch_size, length=None) -> Batch:
    t = self.sequence_length(length)
    inputs = jax.random.normal(key, (batch_size, t, 1))
    return Batch(inputs=inputs,
                 targets=jnp.full((batch_size, t), self.value),
                 loss_mask=jnp.ones((batch_size, t)),
                 positions=jnp.broadcast_to(jnp.arange(t), (batch_size, t)))

  def loss(self, outputs_BT, batch) -> jax.Array:
    return jnp.mean(jnp.square(outputs_BT - batch.targets))
