"""Reading the residual stream: its decomposition, the logit lens, and the
direct attribution of each component to an output.

The residual after the last block is a sum, exactly:

    resid_final = blocks.0.hook_resid_pre          (embedding + positions)
                  + sum_l blocks.l.hook_attn_out + sum_l blocks.l.hook_mlp_out

The logit lens reads each accumulated residual through the final LayerNorm
and the head (``read_residual``); its last entry is the model's output.
Direct attribution goes one step further: the final LayerNorm is linear once
its scale 1/sigma is frozen at the value the full residual gives, so each
component's contribution to an output direction is
``gamma * center(component) / sigma . w`` and these contributions, plus the
LayerNorm bias's, add up to the output.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from icl.models.transformer import HEADS, LN_EPSILON, read_residual
from icl.probing.hooks import num_layers

_HIGHEST = jax.lax.Precision.HIGHEST


def components(cache: Mapping[str, jax.Array]) -> tuple[list[str], jax.Array]:
  """``(labels, [C, B, T, D])``: the embedding and every attention and MLP
  output in the order they are added, which sum to the final residual."""
  labels, parts = ["embed"], [cache["blocks.0.hook_resid_pre"]]
  for l in range(num_layers(cache)):
    labels += [f"attn.{l}", f"mlp.{l}"]
    parts += [cache[f"blocks.{l}.hook_attn_out"],
              cache[f"blocks.{l}.hook_mlp_out"]]
  return labels, jnp.stack(parts)


def accumulated_residual(cache: Mapping[str, jax.Array]
                         ) -> tuple[list[str], jax.Array]:
  """``(labels, [L + 1, B, T, D])``: the residual entering each block, then
  the residual after the last one."""
  n = num_layers(cache)
  labels = [f"pre.{l}" for l in range(n)] + ["final"]
  resid = [cache[f"blocks.{l}.hook_resid_pre"] for l in range(n)]
  return labels, jnp.stack(resid + [cache[f"blocks.{n - 1}.hook_resid_post"]])


def logit_lens(model, params, cache: Mapping[str, jax.Array]
               ) -> tuple[list[str], jax.Array]:
  """``(labels, [L + 1, B, T, V])`` (``[L + 1, B, T]`` for a scalar head):
  each accumulated residual read as if it were the last."""
  labels, resid_LBTD = accumulated_residual(cache)
  return labels, jax.vmap(lambda r: read_residual(model, params, r))(
      resid_LBTD)


def output_direction(model, params, target=None) -> jax.Array:
  """The head's weight column for ``target`` (a vocabulary index, or an
  explicit [V] weighting such as +1 / -1 for a logit difference), [D]."""
  head = HEADS[model.config.head]
  kernel_DV = params[head.param]["kernel"]
  if head.squeeze:
    return kernel_DV[:, 0]
  if target is None:
    raise ValueError("a logits head needs a target: a token index or a [V] "
                     "weighting of the vocabulary")
  target = jnp.asarray(target)
  if target.ndim == 0:
    return kernel_DV[:, target]
  return kernel_DV @ target.astype(kernel_DV.dtype)


def direct_attribution(model, params, cache: Mapping[str, jax.Array],
                       target=None) -> tuple[list[str], jax.Array]:
  """``(labels, [C + 1, B, T])``: each component's direct contribution to
  the output along ``output_direction(target)``, with the final LayerNorm's
  scale frozen, and last the LayerNorm bias's. They sum to the output
  (the logit of ``target``, or the scalar prediction)."""
  labels, parts_CBTD = components(cache)
  ln = params["ln_final"]
  final_BTD = jnp.sum(parts_CBTD, axis=0)
  sigma_BT1 = jnp.sqrt(jnp.var(final_BTD, axis=-1, keepdims=True)
                       + LN_EPSILON)
  w_D = output_direction(model, params, target)
  centered_CBTD = parts_CBTD - jnp.mean(parts_CBTD, axis=-1, keepdims=True)
  direct_CBT = jnp.einsum("cbtd,d->cbt", centered_CBTD / sigma_BT1,
                          ln["scale"] * w_D, precision=_HIGHEST)
  bias = jnp.dot(ln["bias"], w_D, precision=_HIGHEST)
  bias_1BT = jnp.broadcast_to(bias, (1,) + direct_CBT.shape[1:])
  return labels + ["ln_final.bias"], jnp.concatenate([direct_CBT, bias_1BT])


def head_outputs(params, cache: Mapping[str, jax.Array], layer: int
                 ) -> jax.Array:
  """What each head of ``layer`` writes to the residual, [B, T, H, D]; their
  sum plus the output bias is ``blocks.{layer}.hook_attn_out``."""
  out = params[f"blocks_{layer}"]["attn"]["out"]
  return jnp.einsum("bthk,hkd->bthd", cache[f"blocks.{layer}.attn.hook_z"],
                    out["kernel"], precision=_HIGHEST)
