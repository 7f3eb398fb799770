"""In-context learning of function classes (Garg et al. 2022).

A function f is drawn from a class's prior (or, with ``num_tasks = M``,
from a pool of M functions drawn once, as in the regression task); a
sequence holds K inputs x_k ~ N(0, I_d) and their values y_k = f(x_k).
Tokens interleave x_1, y_1, ..., x_K, y_K exactly as in
``icl/tasks/regression``: an x-token is [0, x], a y-token [y, 0, ..., 0],
and the prediction of y_k is read at the x_k position.

**Curriculum** (Garg et al.): the effective dimension and the number of
points grow during training, ``curriculum_dims`` = (start, step) and
``curriculum_points`` = (start, step), raised every ``curriculum_every``
steps up to ``dim`` and ``num_points``. Its state is a pure function of the
training step (``at_step``), so a resumed run repeats an uninterrupted one.
Shapes never change: inputs past the active dimension are zero (the
function still sees all ``dim`` coordinates, as in Garg et al.'s code), and
points past the active count are sampled but carry no loss; the causal
mask keeps them from the points that count.

**Probabilistic head** (``probabilistic=True``, after Liu et al. 2024):
the model predicts a mean and a variance of y at every x position and
trains on the Gaussian negative log-likelihood.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl import fields, rng
from icl.data.batch import Batch
from icl.errors import invalid
from icl.tasks.base import Task
from icl.tasks.regression import interleave, tokenize

INFINITE = -1
# Floor on the predicted variance: a Gaussian head never divides by 0.
MIN_VARIANCE = 1e-4


def curriculum_value(step, start: int, increment: int, every: int,
                     end: int):
  """start + increment * floor(step / every), capped at end (end itself
  when ``every`` is 0: no curriculum). Works on Python ints and traced
  steps alike."""
  if not every:
    return end
  return jnp.minimum(start + increment * (step // every), end)


def check_sparsity(task) -> None:
  """``task.sparsity``: how many of the ``task.dim`` coordinates matter."""
  if not fields.is_int(task.sparsity) or not 1 <= task.sparsity <= task.dim:
    raise invalid("task.sparsity", task.sparsity,
                  f"an int in [1, task.dim={task.dim}]")


def random_support(key, dim: int, size: int) -> jax.Array:
  """A 0/1 mask over ``dim`` coordinates with ``size`` ones, uniformly."""
  return (jax.random.permutation(key, dim) < size).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class FunctionTask(Task):
  """The fields and data every function class shares. A class overrides
  ``draw`` (one function's parameters from a key) and ``apply`` (its
  values on [K, D] inputs), and may override ``inputs``."""

  dim: int = 20
  num_points: int = 41
  num_tasks: int = INFINITE  # M; -1 is infinite
  pool_seed: int = 0
  curriculum_dims: tuple[int, int] = (5, 1)  # (start, increment)
  curriculum_points: tuple[int, int] = (11, 2)
  curriculum_every: int = 0  # steps per curriculum stage; 0: none
  probabilistic: bool = False
  # Set by ``at_step`` (traced during training); None: dim, num_points.
  active_dim: int | None = None
  active_points: int | None = None

  input_kind = "vector"
  ensemble_fields = ("num_tasks", "pool_seed")
  default_evals = ("functions",)
  # What the squared error is divided by in reports ("dim": error / d,
  # "one": plain squared error).
  error_scale = "dim"
  # ±1 labels: scored by accuracy as well (the prediction's sign).
  labels = False
  # Baselines the ``functions`` evaluator runs by default (names in
  # ``baselines.REGISTRY``).
  baselines = ("least_squares", "averaging", "knn")

  @property
  def head(self) -> str:
    return "gaussian" if self.probabilistic else "scalar"

  # -- config ---------------------------------------------------------------

  @classmethod
  def section(cls, name: str, **values):
    """The config section, without the curriculum's state."""
    s = super().section(name, **values)
    del s["active_dim"], s["active_points"]
    return s

  def validate(self) -> None:
    fields.positive_int("task.dim", self.dim)
    fields.positive_int("task.num_points", self.num_points)
    m = self.num_tasks
    if not fields.is_int(m) or (m <= 0 and m != INFINITE):
      raise invalid("task.num_tasks", m, "a positive int or -1 (infinite)")
    if not fields.is_int(self.pool_seed):
      raise invalid("task.pool_seed", self.pool_seed, "an int")
    fields.int_at_least("task.curriculum_every", self.curriculum_every, 0,
                        "an int >= 0 (training steps per curriculum stage; "
                        "0: no curriculum)")
    for name, end in (("curriculum_dims", self.dim),
                      ("curriculum_points", self.num_points)):
      value = getattr(self, name)
      # The start must fit only when the curriculum runs.
      top = end if self.curriculum_every else float("inf")
      if (not isinstance(value, (tuple, list)) or len(value) != 2
          or not all(fields.is_int(v) for v in value)
          or not 1 <= value[0] <= top or value[1] < 0):
        raise invalid(f"task.{name}", value,
                      f"a (start, increment) pair of ints with 1 <= start "
                      f"<= {end} and increment >= 0")
    fields.boolean("task.probabilistic", self.probabilistic)
    for name in ("active_dim", "active_points"):
      if getattr(self, name) is not None:
        raise invalid(f"task.{name}", getattr(self, name),
                      "None (the curriculum sets it during training)")

  @property
  def input_dim(self) -> int:
    return self.dim + 1

  def sequence_length(self, length: int | None = None) -> int:
    return 2 * (length or self.num_points)

  # -- the curriculum -------------------------------------------------------

  def at_step(self, step) -> "FunctionTask":
    """The task as the curriculum sets it at training ``step``."""
    if not self.curriculum_every:
      return self
    every = self.curriculum_every
    return dataclasses.replace(
        self,
        active_dim=curriculum_value(step, *self.curriculum_dims, every,
                                    self.dim),
        active_points=curriculum_value(step, *self.curriculum_points,
                                       every, self.num_points))

  # -- one function ---------------------------------------------------------

  def draw(self, key: jax.Array):
    """One function's parameters (a pytree of arrays)."""
    raise NotImplementedError

  def apply(self, params, x_KD: jax.Array) -> jax.Array:
    """The function's values at [K, D] inputs: [K]."""
    raise NotImplementedError

  def bayes_predictive(self, x_BKD: jax.Array, y_BK: jax.Array):
    """(mean, variance) [B, K] of the Bayes posterior predictive of y_k
    given the pairs before k, where it is known in closed form; else
    None."""
    del x_BKD, y_BK
    return None

  def inputs(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Inputs x of the given shape [..., D]: N(0, I) by default."""
    return jax.random.normal(key, shape)

  # -- data -----------------------------------------------------------------

  def pool_function(self, index: jax.Array):
    """Parameters of pool function(s) ``index`` (any shape): function i is
    ``draw(fold_in(pool_key, i))``, so the pool is never stored."""
    pool_key = rng.stream(self.pool_seed, "tasks")
    flat = jnp.reshape(index, (-1,))
    params = jax.vmap(lambda i: self.draw(jax.random.fold_in(pool_key, i))
                      )(flat)
    return jax.tree.map(
        lambda p: jnp.reshape(p, jnp.shape(index) + p.shape[1:]), params)

  def sample_functions(self, key: jax.Array, batch_size: int):
    """[B] functions: from the pool, or fresh (M infinite). Branch-free in
    ``num_tasks``, so an ensemble can vmap over it."""
    m = self.num_tasks
    index_B = jax.random.randint(key, (batch_size,), 0, jnp.maximum(m, 1))
    fresh = jax.vmap(self.draw)(jax.random.split(key, batch_size))
    pooled = self.pool_function(index_B)
    infinite = jnp.asarray(m == INFINITE)
    return jax.tree.map(lambda f, p: jnp.where(infinite, f, p), fresh,
                        pooled)

  def active_mask(self, d: int):
    """[D] 1 on the active coordinates."""
    active = self.dim if self.active_dim is None else self.active_dim
    return (jnp.arange(d) < active).astype(jnp.float32)

  def sample(self, key: jax.Array, batch_size: int,
             length: int | None = None, functions=None) -> Batch:
    """A batch; ``functions`` ([B] parameters) replaces the drawn ones
    (the evaluators' shifted distributions reuse the same functions)."""
    k = length or self.num_points
    f_key, x_key = jax.random.split(key)
    params = (self.sample_functions(f_key, batch_size) if functions is None
              else functions)
    x_BKD = self.inputs(x_key, (batch_size, k, self.dim)) * self.active_mask(
        self.dim)
    y_BK = jax.vmap(self.apply)(params, x_BKD)
    return self.batch(x_BKD, y_BK, params)

  def batch(self, x_BKD: jax.Array, y_BK: jax.Array, params) -> Batch:
    """The token batch of inputs and values (the loss covers the active
    points)."""
    b, k = y_BK.shape
    points = k if self.active_points is None else self.active_points
    counts_K = (jnp.arange(k) < points).astype(jnp.float32)
    return Batch(
        inputs=tokenize(x_BKD, y_BK),
        targets=interleave(y_BK, jnp.zeros_like(y_BK)),
        loss_mask=interleave(jnp.broadcast_to(counts_K, (b, k)),
                             jnp.zeros((b, k))),
        positions=jnp.broadcast_to(jnp.arange(2 * k, dtype=jnp.int32),
                                   (b, 2 * k)),
        extras={"function": params, "clean_targets": y_BK},
    )

  # -- loss -----------------------------------------------------------------

  def token_loss(self, outputs, batch: Batch) -> jax.Array:
    if self.probabilistic:
      mean, variance = gaussian(outputs)
      return gaussian_nll(mean, variance, batch.targets)
    return self.point_loss(outputs, batch.targets)

  def point_loss(self, prediction_BT, target_BT) -> jax.Array:
    """Squared error; classes with ±1 labels override it."""
    return jnp.square(prediction_BT - target_BT)

  def loss_weights(self, batch: Batch) -> jax.Array:
    return batch.loss_mask / jnp.sum(batch.loss_mask)


def gaussian(outputs_BT2: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(mean, variance) of a Gaussian head's [..., 2] outputs: the variance
  is softplus of the second channel, floored at ``MIN_VARIANCE``."""
  return (outputs_BT2[..., 0],
          jax.nn.softplus(outputs_BT2[..., 1]) + MIN_VARIANCE)


def gaussian_nll(mean, variance, target) -> jax.Array:
  """-log N(target; mean, variance), elementwise."""
  return 0.5 * (jnp.log(2 * jnp.pi * variance)
                + jnp.square(target - mean) / variance)
