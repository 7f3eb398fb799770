"""Sparse parity (in-context-learning-2024's benchmark): x uniform on
{-1, +1}^d, y = the product of ``sparsity`` coordinates chosen
uniformly (a parity of k bits, as ±1). Trained with the logistic loss;
scored by accuracy."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl.tasks.functions.task import (FunctionTask, check_sparsity,
                                      random_support)


@dataclasses.dataclass(frozen=True)
class SparseParityTask(FunctionTask):

  sparsity: int = 2
  error_scale = "one"
  labels = True
  baselines = ("least_squares", "knn")

  def validate(self) -> None:
    super().validate()
    check_sparsity(self)

  def draw(self, key):
    return {"support": random_support(key, self.dim, self.sparsity)}

  def inputs(self, key, shape):
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1.0, -1.0)

  def apply(self, params, x_KD):
    # Coordinates off the support count as +1; inactive ones (zeroed by
    # the curriculum) as 0.
    factors_KD = jnp.where(params["support"] > 0, x_KD, 1.0)
    return jnp.prod(factors_KD, axis=-1)

  def point_loss(self, prediction_BT, target_BT):
    return jax.nn.softplus(-prediction_BT * target_BT)
