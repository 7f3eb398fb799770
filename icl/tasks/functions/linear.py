"""Linear function classes (Garg et al. 2022): y = w.x, and its sparse,
noisy, quadratic and classification variants. w ~ N(0, I_d)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl import fields
from icl.tasks.functions.task import (FunctionTask, check_sparsity,
                                      random_support)

_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True)
class LinearTask(FunctionTask):
  """y = w.x, w ~ N(0, I_d)."""

  def draw(self, key):
    return {"w": jax.random.normal(key, (self.dim,))}

  def apply(self, params, x_KD):
    return jnp.dot(x_KD, params["w"], precision=_HIGHEST)


@dataclasses.dataclass(frozen=True)
class SparseLinearTask(LinearTask):
  """y = w.x with exactly ``sparsity`` nonzero coordinates of w, chosen
  uniformly; the nonzero values are N(0, 1)."""

  sparsity: int = 3
  baselines = ("least_squares", "averaging", "knn", "lasso")

  def validate(self) -> None:
    super().validate()
    check_sparsity(self)

  def draw(self, key):
    value_key, support_key = jax.random.split(key)
    support_D = random_support(support_key, self.dim, self.sparsity)
    return {"w": jax.random.normal(value_key, (self.dim,)) * support_D}


@dataclasses.dataclass(frozen=True)
class NoisyLinearTask(LinearTask):
  """y = w.x + eps, eps ~ N(0, noise_var); the noise is drawn with the
  inputs (``apply`` is the noiseless w.x, the evaluators' target)."""

  noise_var: float = 0.25

  def validate(self) -> None:
    super().validate()
    fields.non_negative_number("task.noise_var", self.noise_var)

  def bayes_predictive(self, x_BKD, y_BK):
    """Gaussian tasks (M infinite): the posterior predictive of y_k given
    the pairs before k. A pool's posterior is not Gaussian: None."""
    if self.num_tasks != -1 or self.noise_var <= 0:
      return None
    return posterior_predictive(x_BKD, y_BK, self.noise_var, 1.0)

  def sample(self, key, batch_size, length=None, functions=None):
    clean = super().sample(key, batch_size, length, functions)
    y_BK = clean.extras["clean_targets"]
    noise_BK = jnp.sqrt(self.noise_var) * jax.random.normal(
        jax.random.fold_in(key, 1), y_BK.shape)
    x_BKD = clean.inputs[:, 0::2, 1:]
    noisy = self.batch(x_BKD, y_BK + noise_BK, clean.extras["function"])
    noisy.extras["clean_targets"] = y_BK
    return noisy


@dataclasses.dataclass(frozen=True)
class QuadraticTask(LinearTask):
  """y = w.(x*x) / sqrt(3): Garg et al.'s quadratic regression (the factor
  keeps the variance that of linear regression)."""

  def apply(self, params, x_KD):
    return jnp.dot(jnp.square(x_KD), params["w"],
                   precision=_HIGHEST) / jnp.sqrt(3.0)


@dataclasses.dataclass(frozen=True)
class LinearClassificationTask(LinearTask):
  """y = sign(w.x), trained with the logistic loss on the ±1 labels; its
  score is accuracy (the sign of the prediction)."""

  error_scale = "one"
  labels = True

  def apply(self, params, x_KD):
    return jnp.where(super().apply(params, x_KD) >= 0, 1.0, -1.0)

  def point_loss(self, prediction_BT, target_BT):
    return jax.nn.softplus(-prediction_BT * target_BT)


def posterior_predictive(x_BKD, y_BK, noise_var: float, task_var: float):
  """(mean, variance) [B, K] of y_k given the pairs before k, for
  y = w.x + N(0, noise_var) with w ~ N(0, task_var I): the Bayes
  predictive of Gaussian linear regression."""
  b, k, d = x_BKD.shape
  earlier_KK = jnp.tril(jnp.ones((k, k)), -1)
  precision_BKDD = jnp.einsum("kj,bjd,bje->bkde", earlier_KK, x_BKD, x_BKD,
                              precision=_HIGHEST) / noise_var + jnp.eye(
                                  d) / task_var
  xty_BKD = jnp.einsum("kj,bjd,bj->bkd", earlier_KK, x_BKD, y_BK,
                       precision=_HIGHEST) / noise_var
  cov_BKDD = jnp.linalg.inv(precision_BKDD)
  mean_BKD = jnp.einsum("bkde,bke->bkd", cov_BKDD, xty_BKD,
                        precision=_HIGHEST)
  mean_BK = jnp.einsum("bkd,bkd->bk", x_BKD, mean_BKD, precision=_HIGHEST)
  var_BK = noise_var + jnp.einsum("bkd,bkde,bke->bk", x_BKD, cov_BKDD,
                                  x_BKD, precision=_HIGHEST)
  return mean_BK, var_BK
