"""Decoder-only, pre-LayerNorm (GPT-2 style) transformer in Flax Linen.

    embed (vector read-in or token table) + positional.embed
      -> num_layers x [x + attn(ln(x)); x + mlp(ln(x))]
      -> ln_final -> head (scalar or vocabulary logits)

Every parameter is created with logical axis names (``embed``, ``heads``,
``kv``, ``mlp``, ``vocab``) so that sharding is a matter of rules, not code.
Every activation worth probing passes through a ``HookPoint``, which sows
it into the ``intermediates`` collection; ``cache_names`` flattens them to
TransformerLens-style names. With B batch, T queries, S keys, D d_model,
H heads, K head dim, M = mlp_ratio * D:

    hook_embed                  [B, T, D]  token embedding or read-in
    blocks.{l}.hook_resid_pre   [B, T, D]  input of block l (block 0: with
                                           position embeddings)
    blocks.{l}.attn.hook_q/k/v  [B, T, H, K]  after any rotation (RoPE)
    blocks.{l}.attn.hook_attn_scores [B, H, T, S]  masked logits
    blocks.{l}.attn.hook_pattern     [B, H, T, S]  softmax of the scores
    blocks.{l}.attn.hook_z      [B, T, H, K]  pattern-weighted values
    blocks.{l}.hook_attn_out    [B, T, D]
    blocks.{l}.hook_resid_mid   [B, T, D]
    blocks.{l}.mlp.hook_post    [B, T, M]  MLP hidden units after GELU
    blocks.{l}.hook_mlp_out     [B, T, D]
    blocks.{l}.hook_resid_post  [B, T, D]
    hook_final                  [B, T, D]  after the final LayerNorm

``icl/probing`` reads and patches these sites.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models import positional
from icl.models.attention import CausalSelfAttention
from icl.models.hook_point import HookPoint
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
    hidden_BTM = HookPoint(name="hook_post")(
        per_token(lambda x_ND: nn.gelu(fc_in(x_ND)), x_BTD))
    return per_token(fc_out, hidden_BTM)


LN_EPSILON = 1e-6


def _layer_norm(cfg: TransformerConfig, name: str) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=LN_EPSILON, dtype=cfg.dtype,
                      param_dtype=cfg.param_dtype, name=name,
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
    x_BTD = HookPoint(name="hook_resid_pre")(x_BTD)
    attn_out_BTD = CausalSelfAttention(cfg, self.positional, name="attn")(
        _layer_norm(cfg, "ln1")(x_BTD), positions_BT, decode=decode)
    attn_out_BTD = HookPoint(name="hook_attn_out")(dropout(attn_out_BTD))
    x_BTD = HookPoint(name="hook_resid_mid")(_constrain(x_BTD + attn_out_BTD))
    mlp_out_BTD = HookPoint(name="hook_mlp_out")(
        dropout(MLP(cfg, name="mlp")(_layer_norm(cfg, "ln2")(x_BTD))))
    return HookPoint(name="hook_resid_post")(_constrain(x_BTD + mlp_out_BTD))


class Transformer(nn.Module):
  """``apply({'params': p}, inputs, positions, train=...) -> outputs``.

  inputs: float [B, T, F] ("vector") or int [B, T] ("tokens").
  positions: int [B, T] position ids (data, not derived from shapes).
  outputs: [B, T] for the scalar head, [B, T, 2] (mean, variance before
  softplus) for the Gaussian head, [B, T, V] for the logits head.
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
    x_BTD = HookPoint(name="hook_embed")(x_BTD)
    # One encoding instance shared by all layers (relative biases are global).
    encoding = positional.get(cfg.positional)(cfg, name="positional")
    x_BTD = encoding.embed(x_BTD, positions_BT)
    x_BTD = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x_BTD)
    x_BTD = _constrain(x_BTD)
    for layer in range(cfg.num_layers):
      x_BTD = Block(cfg, encoding, name=f"blocks_{layer}")(
          x_BTD, positions_BT, train=train, decode=decode)
    x_BTD = HookPoint(name="hook_final")(_layer_norm(cfg, "ln_final")(x_BTD))
    return _read_out(cfg, _head(cfg, HEADS[cfg.head].param), x_BTD)


@dataclasses.dataclass(frozen=True)
class Head:
  """A read-out Dense: its parameter name, its outputs per token (None:
  one per vocabulary entry) and whether a single output is squeezed."""
  param: str
  features: int | None
  squeeze: bool = False


HEADS = {"scalar": Head("read_out", 1, squeeze=True),
         # A mean and a (pre-softplus) variance.
         "gaussian": Head("read_out", 2),
         "logits": Head("unembed", None)}


def _head(cfg: TransformerConfig, name: str | None = None) -> nn.Dense:
  features = HEADS[cfg.head].features
  axes = ("embed", "vocab") if features is None else ("embed", None)
  return nn.Dense(features or cfg.vocab_size, use_bias=False,
                  dtype=cfg.dtype, param_dtype=cfg.param_dtype,
                  kernel_init=kernel(cfg, axes), name=name)


def _read_out(cfg: TransformerConfig, head, x_BTD: jax.Array) -> jax.Array:
  """[B, T] for the scalar head, [B, T, 2] for the Gaussian head, [B, T, V]
  logits; in float32."""
  out_BTF = per_token(head, x_BTD).astype(jnp.float32)
  return out_BTF[..., 0] if HEADS[cfg.head].squeeze else out_BTF


def read_residual(model: Transformer, params, resid_BTD: jax.Array):
  """The outputs the model would give if ``resid_BTD`` were its last
  residual: the final LayerNorm and the head, run as the model's own
  modules on its own parameters. On the last block's ``hook_resid_post``
  this is the model's output; on earlier residuals it is the logit lens."""
  cfg = model.config
  normalized_BTD = _layer_norm(cfg, "ln_final").apply(
      {"params": params["ln_final"]}, resid_BTD)
  head = _head(cfg).bind({"params": params[HEADS[cfg.head].param]})
  return _read_out(cfg, head, normalized_BTD)
