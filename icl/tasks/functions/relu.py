"""Two-layer ReLU networks (Garg et al. 2022):
y = sqrt(2 / H) * sum_h a_h relu(w_h . x), with w_h ~ N(0, I_d) and
a_h ~ N(0, 1); the factor makes y's variance about d, as for linear
regression, so errors are reported per dimension too."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl import fields
from icl.tasks.functions.task import FunctionTask

_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True)
class ReluNetTask(FunctionTask):

  hidden: int = 100
  baselines = ("least_squares", "averaging", "knn", "gd_net")

  def validate(self) -> None:
    super().validate()
    fields.positive_int("task.hidden", self.hidden)

  def draw(self, key):
    w_key, a_key = jax.random.split(key)
    return {"w": jax.random.normal(w_key, (self.hidden, self.dim)),
            "a": jax.random.normal(a_key, (self.hidden,))}

  def apply(self, params, x_KD):
    hidden_KH = jax.nn.relu(jnp.dot(x_KD, params["w"].T,
                                    precision=_HIGHEST))
    return jnp.dot(hidden_KH, params["a"], precision=_HIGHEST) * jnp.sqrt(
        2.0 / self.hidden)
