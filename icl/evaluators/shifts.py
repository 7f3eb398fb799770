"""Distribution shifts at evaluation (Garg et al. 2022, Section 4): each is
the ``functions`` evaluator on a shifted batch, chosen by name.

- ``shift_skewed``: inputs x ~ N(0, S) with S's eigenvalues proportional
  to 1/i^2 (scaled to trace d) in a random basis.
- ``shift_orthant``: the context points in one random orthant, the last
  query in the opposite one (scored at the last position).
- ``shift_orthogonal``: the last query orthogonal to every context point
  (scored at the last position; needs K - 1 < d).
- ``shift_scale_x``: inputs times ``eval.shift_scale``.
- ``shift_scale_y``: the function's values times ``eval.shift_scale``.
- ``shift_noise``: context values plus N(0, ``eval.shift_noise``); the
  targets stay noiseless.

The functions themselves are drawn as for training (the same stream as
``functions``), so only the inputs or values move.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from icl import fields, sharding
from icl.errors import invalid
from icl.evaluators.functions import FunctionsEvaluator


def _functions_and_inputs(task, batch_size, key):
  """The unshifted draw: the functions, their inputs, and a spare key."""
  f_key, x_key = jax.random.split(key)
  params = task.sample_functions(f_key, batch_size)
  x_BKD = task.inputs(x_key, (batch_size, task.num_points, task.dim))
  return params, x_BKD, jax.random.fold_in(key, 7)


def _values(task, params, x_BKD):
  return jax.vmap(task.apply)(params, x_BKD)


class _Shift(FunctionsEvaluator):
  """A shifted evaluation batch: subclasses give ``shift``."""

  eval_fields = FunctionsEvaluator.eval_fields | {"shift_scale": 2.0,
                                                  "shift_noise": 1.0}

  def eval_batch(self):
    # One program for every member of an ensemble (Task.split_members).
    shared, values = self.task.split_members()
    return _shifted(type(self), shared, self.batch_size, values, self.key,
                    self.eval_cfg.shift_scale, self.eval_cfg.shift_noise)

  @staticmethod
  def shift(task, params, x_BKD, key, scale, noise):
    """(inputs, context values, noiseless targets), shifted."""
    raise NotImplementedError

  @classmethod
  def validate(cls, eval_cfg, task) -> None:
    super().validate(eval_cfg, task)
    fields.positive_number("eval.shift_scale", eval_cfg.shift_scale)
    fields.non_negative_number("eval.shift_noise", eval_cfg.shift_noise)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _shifted(cls, shared, batch_size, values, key, scale, noise):
  task = shared.with_values(values)
  params, x_BKD, key = _functions_and_inputs(task, batch_size, key)
  x_BKD, y_BK, clean_BK = cls.shift(task, params, x_BKD, key, scale, noise)
  batch = task.batch(x_BKD, y_BK, params)
  batch.extras["clean_targets"] = clean_BK
  return sharding.constrain_batch(batch)


class SkewedEvaluator(_Shift):

  @staticmethod
  def shift(task, params, x_BKD, key, scale, noise):
    d = task.dim
    eigen_D = 1.0 / jnp.arange(1, d + 1) ** 2
    eigen_D *= d / jnp.sum(eigen_D)
    basis_DD, _ = jnp.linalg.qr(jax.random.normal(key, (d, d)))
    x_BKD = (x_BKD * jnp.sqrt(eigen_D)) @ basis_DD.T
    y_BK = _values(task, params, x_BKD)
    return x_BKD, y_BK, y_BK


class OrthantEvaluator(_Shift):
  scored = "last"

  @staticmethod
  def shift(task, params, x_BKD, key, scale, noise):
    b, k, d = x_BKD.shape
    sign_BD = jnp.where(jax.random.bernoulli(key, 0.5, (b, d)), 1.0, -1.0)
    # Context points in orthant sign, the last point in orthant -sign.
    side_K = jnp.where(jnp.arange(k) < k - 1, 1.0, -1.0)
    x_BKD = jnp.abs(x_BKD) * sign_BD[:, None] * side_K[None, :, None]
    y_BK = _values(task, params, x_BKD)
    return x_BKD, y_BK, y_BK


class OrthogonalEvaluator(_Shift):
  scored = "last"

  @classmethod
  def validate(cls, eval_cfg, task) -> None:
    super().validate(eval_cfg, task)
    if task.num_points - 1 >= task.dim:
      raise invalid("task.num_points", task.num_points,
                    f"at most task.dim={task.dim} for shift_orthogonal "
                    "(the last query must be orthogonal to the others)")

  @staticmethod
  def shift(task, params, x_BKD, key, scale, noise):
    context_BCD = x_BKD[:, :-1]
    query_BD = x_BKD[:, -1]
    # Project the query off the span of the context points.
    basis_BDC, _ = jnp.linalg.qr(jnp.swapaxes(context_BCD, 1, 2))
    query_BD = query_BD - jnp.einsum(
        "bdc,bc->bd", basis_BDC, jnp.einsum("bdc,bd->bc", basis_BDC,
                                             query_BD))
    x_BKD = x_BKD.at[:, -1].set(query_BD)
    y_BK = _values(task, params, x_BKD)
    return x_BKD, y_BK, y_BK


class ScaleXEvaluator(_Shift):

  @staticmethod
  def shift(task, params, x_BKD, key, scale, noise):
    x_BKD = x_BKD * scale
    y_BK = _values(task, params, x_BKD)
    return x_BKD, y_BK, y_BK


class ScaleYEvaluator(_Shift):

  @staticmethod
  def shift(task, params, x_BKD, key, scale, noise):
    y_BK = _values(task, params, x_BKD) * scale
    return x_BKD, y_BK, y_BK


class NoiseEvaluator(_Shift):

  @staticmethod
  def shift(task, params, x_BKD, key, scale, noise):
    clean_BK = _values(task, params, x_BKD)
    y_BK = clean_BK + jnp.sqrt(noise) * jax.random.normal(key,
                                                           clean_BK.shape)
    return x_BKD, y_BK, clean_BK


SHIFTS = {
    "shift_skewed": SkewedEvaluator,
    "shift_orthant": OrthantEvaluator,
    "shift_orthogonal": OrthogonalEvaluator,
    "shift_scale_x": ScaleXEvaluator,
    "shift_scale_y": ScaleYEvaluator,
    "shift_noise": NoiseEvaluator,
}
