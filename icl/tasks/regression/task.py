"""Noisy in-context linear regression with task diversity M (Raventós et al. 2023).

    x ~ N(0, I_D),  w ~ N(0, tau^2 I_D),  y = w.x + sigma * eps

The pretraining distribution is a pool of M task vectors drawn once; each
sequence draws one of them uniformly. Pool task i is *defined* as
``normal(fold_in(pool_key, i))``, so the pool is never stored: any M, even
2^20, costs one fold-in per sequence, and M and the pool seed can be traced
values that vary across ensemble members.
``num_tasks = -1`` means M = infinity: a fresh w per sequence.

Tokens interleave x_1, y_1, ..., x_K, y_K. An x-token is [0, x], a y-token is
[y, 0, ..., 0], so y has its own channel. The prediction for y_k is read at
the x_k position, which has seen only (x_1, y_1, ..., x_{k-1}, y_{k-1}, x_k).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl import fields, rng
from icl.data.batch import Batch
from icl.errors import invalid
from icl.tasks.base import Task

INFINITE = -1


@dataclasses.dataclass(frozen=True)
class RegressionTask(Task):
  dim: int = 8
  num_points: int = 16
  noise_var: float = 0.25  # sigma^2
  task_var: float = 1.0  # tau^2
  num_tasks: int = INFINITE  # M; -1 is infinite
  pool_seed: int = 0

  input_kind = "vector"
  head = "scalar"
  # Fields that may differ between the members of one ensemble (they change
  # no shape, so the members can share one vmapped program).
  ensemble_fields = ("num_tasks", "pool_seed")
  default_evals = ("regression",)

  def validate(self) -> None:
    fields.positive_int("task.dim", self.dim)
    fields.positive_int("task.num_points", self.num_points)
    fields.non_negative_number("task.noise_var", self.noise_var)
    fields.positive_number("task.task_var", self.task_var)
    m = self.num_tasks
    if not fields.is_int(m) or (m <= 0 and m != INFINITE):
      raise invalid("task.num_tasks", m, "a positive int or -1 (infinite)")
    if not fields.is_int(self.pool_seed):
      raise invalid("task.pool_seed", self.pool_seed, "an int")

  @property
  def input_dim(self) -> int:
    return self.dim + 1

  @property
  def finite_pool(self) -> bool:
    return self.num_tasks != INFINITE

  @property
  def ridge_lambda(self) -> float:
    """The ridge penalty that makes ridge the Bayes posterior mean."""
    return self.noise_var / self.task_var

  def true_distribution(self) -> "RegressionTask":
    """The same task with M = infinity: Gaussian task vectors."""
    return dataclasses.replace(self, num_tasks=INFINITE)

  def sequence_length(self, length: int | None = None) -> int:
    return 2 * (length or self.num_points)

  def pool_task(self, index: jax.Array) -> jax.Array:
    """Task vector(s) w_i of the pretraining pool, [..., D]."""
    pool_key = rng.stream(self.pool_seed, "tasks")
    draw = lambda i: jax.random.normal(jax.random.fold_in(pool_key, i),
                                       (self.dim,))
    flat = jnp.reshape(index, (-1,))
    w = jax.vmap(draw)(flat) * jnp.sqrt(self.task_var)
    return jnp.reshape(w, jnp.shape(index) + (self.dim,))

  def pool(self) -> jax.Array:
    """The whole pool, [M, D]; for the dMMSE baseline."""
    if not self.finite_pool:
      raise ValueError("the pool is infinite (task.num_tasks = -1)")
    return self.pool_task(jnp.arange(self.num_tasks))

  def sample_tasks(self, key: jax.Array, batch_size: int) -> jax.Array:
    # Branch-free in num_tasks, so an ensemble can vmap over it; with a
    # Python int the unused branch is dead code.
    m = self.num_tasks
    index_B = jax.random.randint(key, (batch_size,), 0, jnp.maximum(m, 1))
    fresh_BD = jax.random.normal(key, (batch_size, self.dim)) * jnp.sqrt(
        self.task_var)
    return jnp.where(jnp.asarray(m == INFINITE), fresh_BD,
                     self.pool_task(index_B))

  def sample(self, key: jax.Array, batch_size: int,
             length: int | None = None) -> Batch:
    k = length or self.num_points
    task_key, x_key, noise_key = jax.random.split(key, 3)
    w_BD = self.sample_tasks(task_key, batch_size)
    x_BKD = jax.random.normal(x_key, (batch_size, k, self.dim))
    clean_BK = jnp.einsum("bkd,bd->bk", x_BKD, w_BD,
                          precision=jax.lax.Precision.HIGHEST)
    y_BK = clean_BK + jnp.sqrt(self.noise_var) * jax.random.normal(
        noise_key, (batch_size, k))
    return Batch(
        inputs=tokenize(x_BKD, y_BK),
        targets=interleave(y_BK, jnp.zeros_like(y_BK)),
        loss_mask=interleave(jnp.ones_like(y_BK), jnp.zeros_like(y_BK)),
        positions=jnp.broadcast_to(jnp.arange(2 * k, dtype=jnp.int32),
                                   (batch_size, 2 * k)),
        extras={"w": w_BD, "clean_targets": clean_BK},
    )

  def token_loss(self, outputs_BT: jax.Array, batch: Batch) -> jax.Array:
    return jnp.square(outputs_BT - batch.targets)

  def loss_weights(self, batch: Batch) -> jax.Array:
    """The mean squared error over the y slots the mask keeps."""
    return batch.loss_mask / jnp.sum(batch.loss_mask)


def interleave(at_x_BK: jax.Array, at_y_BK: jax.Array) -> jax.Array:
  """[B, K] values for the x and y slots -> [B, 2K], x slots first."""
  b, k = at_x_BK.shape[:2]
  return jnp.stack([at_x_BK, at_y_BK], axis=2).reshape(
      (b, 2 * k) + at_x_BK.shape[2:])


def tokenize(x_BKD: jax.Array, y_BK: jax.Array) -> jax.Array:
  """Interleaved tokens [B, 2K, D+1]: x-token [0, x], y-token [y, 0...0]."""
  x_tokens = jnp.pad(x_BKD, ((0, 0), (0, 0), (1, 0)))
  y_tokens = jnp.pad(y_BK[..., None], ((0, 0), (0, 0), (0, x_BKD.shape[-1])))
  return interleave(x_tokens, y_tokens)


def split_tokens(inputs_BTF: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Inverse of ``tokenize``: (x [B, K, D], y [B, K])."""
  return inputs_BTF[:, 0::2, 1:], inputs_BTF[:, 1::2, 0]


def predictions_at_x(outputs_BT: jax.Array) -> jax.Array:
  """The model's y_k predictions, read at the x positions: [B, K]."""
  return outputs_BT[:, 0::2]
