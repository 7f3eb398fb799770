"""Decoder-only, pre-LayerNorm (GPT-2 style) transformer in Flax Linen.

    embed (vector read-in or token table) + positional.embed
      -> num_layers x [x + attn(ln(x)); x + mlp(ln(x))]
      -> ln_final -> head (scalar or vocabulary logits)

Every parameter is created with logical axis names (``embed``, ``heads``,
``kv``, ``mlp``, ``vocab``) so that sharding is a matter of rules, not code.
Activations are sown into the ``intermediates`` collection under
TransformerLens-style names; ``cache_names`` flattens them to
``blocks.{l}.hook_resid_pre`` and friends.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models import positional
from icl.models.attention import CausalSelfAttention
from icl.models.ops import init as _init, kernel, per_token

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Static model hyperparameters (hashable, so jit can close over them)."""

  num_layers: int = 4
  d_model: int = 64
  num_heads: int = 2
  mlp_ratio: int = 4
  positional: str = "learned"
  max_len: int = 64  # size of any position table; position ids must be below
  length_temperature: float = 0.0  # beta in 1 + beta log n; 0 disables
  learn_temperature: bool = False  # learn beta per head (from the value above)
  input_kind: str = "vector"  # "vector": Dense read-in; "tokens": embedding
  input_dim: int = 0  # feature width for "vector" inputs
  vocab_size: int = 0  # token count for "tokens" inputs and "logits" heads
  head: str = "scalar"
  dropout_rate: float = 0.0
  kernel_init: str = "lecun"  # see KERNEL_INITS
  dtype: Any = jnp.float32  # activations and matmuls
  param_dtype: Any = jnp.float32


def _constrain(x_BTD):
  return nn.with_logical_constraint(x_BTD, ("batch", "seq", "embed"))


class MLP(nn.Module):
  config: TransformerConfig

  @nn.compact
  def __call__(self, x_BTD: jax.Array) -> jax.Array:
    cfg = self.config
    fc_in = nn.Dense(cfg.mlp_ratio * cfg.d_model, dtype=cfg.dtype,
                     param_dtype=cfg.param_dtype,
                     kernel_init=kernel(cfg, ("embed", "mlp")),
                     bias_init=_init(("mlp",), nn.initializers.zeros),
                     name="fc_in")
    fc_out = nn.Dense(cfg.d_model, dtype=cfg.dtype, param_dtype=cfg.param_dtype,
                      kernel_init=kernel(cfg, ("mlp", "embed")),
                      bias_init=_init(("embed",), nn.initializers.zeros),
                      name="fc_out")
    return per_token(lambda x_ND: fc_out(nn.gelu(fc_in(x_ND))), x_BTD)


def _layer_norm(cfg: TransformerConfig, name: str) -> nn.LayerNorm:
  return nn.LayerNorm(dtype=cfg.dtype, param_dtype=cfg.param_dtype, name=name,
                      scale_init=_init(("embed",), nn.initializers.ones),
                      bias_init=_init(("embed",), nn.initializers.zeros))


class Block(nn.Module):
  config: TransformerConfig
  positional: positional.PositionalEncoding

  @nn.compact
  def __call__(self, x_BTD, positions_BT, *, train: bool,
               decode: bool = False):
    cfg = self.config
    dropout = nn.Dropout(cfg.dropout_rate, deterministic=not train)
    self.sow("intermediates", "hook_resid_pre", x_BTD)
    attn_out_BTD = CausalSelfAttention(cfg, self.positional, name="attn")(
        _layer_norm(cfg, "ln1")(x_BTD), positions_BT, decode=decode)
    attn_out_BTD = dropout(attn_out_BTD)
    self.sow("intermediates", "hook_attn_out", attn_out_BTD)
    x_BTD = _constrain(x_BTD + attn_out_BTD)
    self.sow("intermediates", "hook_resid_mid", x_BTD)
    mlp_out_BTD = dropout(MLP(cfg, name="mlp")(_layer_norm(cfg, "ln2")(x_BTD)))
    self.sow("intermediates", "hook_mlp_out", mlp_out_BTD)
    x_BTD = _constrain(x_BTD + mlp_out_BTD)
    self.sow("intermediates", "hook_resid_post", x_BTD)
    return x_BTD


class Transformer(nn.Module):
  """``apply({'params': p}, inputs, positions, train=...) -> outputs``.

  inputs: float [B, T, F] ("vector") or int [B, T] ("tokens").
  positions: int [B, T] position ids (data, not derived from shapes).
  outputs: [B, T] for the scalar head, [B, T, V] for the logits head.
  decode: use and extend the ``cache`` collection (``icl.decoding``).
  """

  config: TransformerConfig

  @nn.compact
  def __call__(self, inputs, positions_BT, *, train: bool = False,
               decode: bool = False):
    cfg = self.config
    if cfg.input_kind == "vector":
      x_BTD = per_token(nn.Dense(cfg.d_model, use_bias=False, dtype=cfg.dtype,
                                 param_dtype=cfg.param_dtype,
                                 kernel_init=kernel(cfg, (None, "embed")),
                                 name="read_in"), inputs)
    else:
      x_BTD = nn.Embed(cfg.vocab_size, cfg.d_model, dtype=cfg.dtype,
                       param_dtype=cfg.param_dtype,
                       embedding_init=_init(("vocab", "embed")),
                       name="embed")(inputs)
    self.sow("intermediates", "hook_embed", x_BTD)
    # One encoding instance shared by all layers (relative biases are global).
    encoding = positional.get(cfg.positional)(cfg, name="positional")
    x_BTD = encoding.embed(x_BTD, positions_BT)
    x_BTD = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x_BTD)
    x_BTD = _constrain(x_BTD)
    for layer in range(cfg.num_layers):
      x_BTD = Block(cfg, encoding, name=f"blocks_{layer}")(
          x_BTD, positions_BT, train=train, decode=decode)
    x_BTD = _layer_norm(cfg, "ln_final")(x_BTD)
    self.sow("intermediates", "hook_final", x_BTD)
    if cfg.head == "scalar":
      out_BT1 = per_token(nn.Dense(1, use_bias=False, dtype=cfg.dtype,
                                   param_dtype=cfg.param_dtype,
                                   kernel_init=kernel(cfg, ("embed", None)),
                                   name="read_out"), x_BTD)
      return out_BT1[..., 0].astype(jnp.float32)
    logits_BTV = per_token(nn.Dense(cfg.vocab_size, use_bias=False,
                                    dtype=cfg.dtype,
                                    param_dtype=cfg.param_dtype,
                                    kernel_init=kernel(cfg, ("embed", "vocab")),
                                    name="unembed"), x_BTD)
    return logits_BTV.astype(jnp.float32)


def init_params(model: Transformer, key: jax.Array, inputs, positions_BT):
  """Returns (params, logical_axes): plain arrays and matching axis names."""
  boxed = model.init({"params": key}, inputs, positions_BT)["params"]
  return nn.meta.unbox(boxed), nn.get_partition_spec(boxed)


def cache_names(intermediates) -> dict[str, jax.Array]:
  """Flattens sown intermediates to TransformerLens-style names.

  ``{'blocks_0': {'attn': {'hook_pattern': (x,)}}}`` becomes
  ``{'blocks.0.attn.hook_pattern': x}``.
  """
  flat = {}
  for path, value in jax.tree_util.tree_flatten_with_path(
      intermediates, is_leaf=lambda x: isinstance(x, tuple))[0]:
    parts = []
    for entry in path:
      name = str(entry.key)
      parts.extend(name.split("_", 1) if name.startswith("blocks_") else [name])
    flat[".".join(parts)] = value[-1]
  return flat
