"""``constant_error``: mean squared error against the constant."""

import jax
import jax.numpy as jnp

from icl.evaluators.base import Evaluator, Result
from icl.metrics import markdown_table


class ConstantResult(Result):

  def summary(self):
    return {"mse": self.data["mse"]}

  def table(self):
    return markdown_table(["mse"], [[self.data["mse"]]])


class ConstantEvaluator(Evaluator):
  eval_fields = {"batch_size": 64}
  needs = ("value",)

  def __call__(self, params) -> ConstantResult:
    batch = self.task.sample(self.key, self.batch_size)
    out_BT = self.model.apply({"params": params}, batch.inputs,
                              batch.positions)
    mse = jnp.mean(jnp.square(out_BT - batch.targets))
    return ConstantResult({"mse": float(jax.device_get(mse))})
