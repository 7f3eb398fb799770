"""Decision trees (Garg et al. 2022): a full binary tree of the given
depth; every node tests one input coordinate, drawn uniformly, against 0
(right if positive), and the leaf reached gives y ~ N(0, 1)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl import fields
from icl.tasks.functions.task import FunctionTask


@dataclasses.dataclass(frozen=True)
class DecisionTreeTask(FunctionTask):

  depth: int = 4
  error_scale = "one"
  baselines = ("least_squares", "knn", "tree", "xgboost")

  def validate(self) -> None:
    super().validate()
    fields.positive_int("task.depth", self.depth)

  @property
  def num_nodes(self) -> int:
    """Nodes of the full tree, leaves included (heap order: the children
    of node i are 2i + 1 and 2i + 2)."""
    return 2 ** (self.depth + 1) - 1

  def draw(self, key):
    feature_key, value_key = jax.random.split(key)
    return {"feature": jax.random.randint(feature_key, (self.num_nodes,), 0,
                                          self.dim),
            "value": jax.random.normal(value_key, (self.num_nodes,))}

  def apply(self, params, x_KD):
    return params["value"][self.leaf_nodes(params, x_KD)]

  def leaf_nodes(self, params, x_KD) -> jax.Array:
    """The node (heap index) each input reaches at the bottom, [K]."""
    node_K = jnp.zeros(x_KD.shape[0], jnp.int32)
    for _ in range(self.depth):
      coordinate_K = jnp.take_along_axis(
          x_KD, params["feature"][node_K][:, None], axis=1)[:, 0]
      node_K = 2 * node_K + 1 + (coordinate_K > 0).astype(jnp.int32)
    return node_K
