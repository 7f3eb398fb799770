"""Helpers shared by the model modules: initializers, a token view, and a
Dense whose kernel keeps the head axis."""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax


def per_token(fn, x_BT_):
  """Applies ``fn`` to a [B*T, ...] view of a [B, T, ...] array.

  Dense layers on 2-D inputs compile to plain matmuls; on [B, T, D] their
  weight gradients contract two axes, which XLA:CPU runs ~20% slower
  (measured on the MLP of the paper-size model).
  """
  b, t = x_BT_.shape[:2]
  y = fn(x_BT_.reshape((b * t,) + x_BT_.shape[2:]))
  return y.reshape((b, t) + y.shape[1:])


# Dense kernels: "lecun" is variance 1 / fan_in (Flax's default); "gpt2" is
# N(0, 0.02^2) whatever the width. At width 64 "gpt2" is 6x smaller, and the
# in-context regression plateau lasted >10k steps at M = 2^15 with it.
KERNEL_INITS = {
    "lecun": nn.initializers.lecun_normal(),
    "gpt2": nn.initializers.normal(0.02),
}
_EMBED_INIT = nn.initializers.normal(0.02)


def init(axes, initializer=_EMBED_INIT):
  """An initializer that tags the parameter with logical axis names."""
  return nn.with_logical_partitioning(initializer, axes)


def kernel(cfg, axes):
  return init(axes, KERNEL_INITS[cfg.kernel_init])


class ShapedDense(nn.Module):
  """A Dense over the last ``in_dims`` axes of ``x`` whose kernel has shape
  ``in_shape + features`` (e.g. [D, H, K]), so heads stay a named axis.

  ``nn.DenseGeneral`` does the same, but its initializer reshapes a flat
  kernel inside its logical-axis box, which breaks the box's sharding
  constraint whenever logical rules are active. This one draws the flat
  kernel and reshapes it before boxing: the same values, a valid box. The
  product runs as one 2-D matmul.
  """

  features: tuple[int, ...]
  in_dims: int
  kernel_axes: tuple[str | None, ...]
  bias_axes: tuple[str | None, ...]
  config: Any  # TransformerConfig: dtype, param_dtype, kernel_init

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    cfg = self.config
    lead, in_shape = x.shape[:-self.in_dims], x.shape[-self.in_dims:]
    n_in, n_out = math.prod(in_shape), math.prod(self.features)
    flat_init = KERNEL_INITS[cfg.kernel_init]
    kernel = self.param(
        "kernel",
        init(self.kernel_axes,
             lambda key, shape, dtype: flat_init(
                 key, (n_in, n_out), dtype).reshape(shape)),
        tuple(in_shape) + tuple(self.features), cfg.param_dtype)
    bias = self.param("bias", init(self.bias_axes, nn.initializers.zeros),
                      tuple(self.features), cfg.param_dtype)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=cfg.dtype)
    y = x.reshape(lead + (n_in,)) @ kernel.reshape(n_in, n_out)
    return y.reshape(lead + tuple(self.features)) + bias
