"""Capture and change named activations: ``run_with_cache``, ``run_with_hooks``.

Sites are the model's ``HookPoint``s, named as in TransformerLens
(``blocks.{l}.hook_resid_pre``, ``blocks.{l}.attn.hook_pattern``, ...; the
list with shapes is in ``icl/models/transformer.py``). A hook is a function
``activation -> activation`` of the same shape. Hooks are applied with
``flax.linen.intercept_methods`` while the model is traced, so a hooked run
is an ordinary pure function of (params, inputs): it jits, vmaps and
differentiates like the plain forward pass, which is what lets
``icl/probing/patching.py`` run a whole patching sweep as one compiled
``vmap``.

    out, cache = run_with_cache(model, params, inputs, positions)
    cache["blocks.0.attn.hook_pattern"]          # [B, H, T, S]
    stack_layers(cache, "hook_attn_out")          # [L, B, T, D]
    out = run_with_hooks(model, params, inputs, positions,
                         {"blocks.1.attn.hook_z": lambda z: z.at[:, :, 0].set(0)})

Every function takes ``positions=None`` to mean 0, 1, ..., T - 1.
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from icl.models.hook_point import HookPoint, cache_names, site_name

Hook = Callable[[jax.Array], jax.Array]


def default_positions(inputs) -> jax.Array:
  b, t = inputs.shape[:2]
  return jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))


def _apply(model, params, inputs, positions, mutable):
  if positions is None:
    positions = default_positions(inputs)
  return model.apply({"params": params}, inputs, positions, mutable=mutable)


# A run without hooks is one compiled program, not op by op: from a
# notebook, the first call on a 2-layer model took 1.9 s eagerly and 0.46 s
# jitted. (With hooks, the run stays eager: a hook is a new closure each time.)
_apply_compiled = jax.jit(_apply, static_argnums=(0, 4))


@functools.lru_cache(maxsize=64)
def _site_shapes(model, input_shape, input_dtype) -> dict:
  inputs = jax.ShapeDtypeStruct(input_shape, input_dtype)
  positions = jax.ShapeDtypeStruct(input_shape[:2], jnp.int32)

  def run(params, inputs, positions):
    return cache_names(model.apply({"params": params}, inputs, positions,
                                   mutable=["intermediates"])[1]
                       ["intermediates"])

  params = jax.eval_shape(lambda i, p: model.init(jax.random.key(0), i, p),
                          inputs, positions)["params"]
  return jax.eval_shape(run, params, inputs, positions)


def site_shapes(model, inputs) -> dict[str, jax.ShapeDtypeStruct]:
  """Every site of ``model`` on inputs shaped like ``inputs``, with the
  shape and dtype of its activation (computed abstractly, nothing runs)."""
  return dict(_site_shapes(model, tuple(inputs.shape),
                           jnp.dtype(inputs.dtype)))


def check_names(model, inputs, names, what: str = "site") -> None:
  """ValueError for any name that is not a site, listing the valid ones."""
  valid = site_shapes(model, inputs)
  unknown = [n for n in names if n not in valid]
  if unknown:
    raise ValueError(f"unknown {what} name(s) {unknown}; valid names are "
                     f"{sorted(valid, key=_site_order)}")


def _site_order(name: str):
  parts = name.split(".")
  if parts[0] == "blocks":
    return (1, int(parts[1]), ".".join(parts[2:]))
  return (0 if name == "hook_embed" else 2, 0, name)


def _interceptor(hooks: Mapping[str, Hook]):
  def intercept(next_fun, args, kwargs, context):
    if not isinstance(context.module, HookPoint) or context.method_name != (
        "__call__"):
      return next_fun(*args, **kwargs)
    name = site_name(context.module.path)
    hook = hooks.get(name)
    if hook is None:
      return next_fun(*args, **kwargs)
    x = args[0]
    y = jnp.asarray(hook(x))
    if y.shape != x.shape:
      raise ValueError(f"the hook on {name} returned shape {y.shape}, but the "
                       f"site holds {x.shape}; a hook must return an "
                       "activation of the same shape")
    return next_fun(y.astype(x.dtype), *args[1:], **kwargs)
  return intercept


def run_with_hooks(model, params, inputs, positions=None,
                   hooks: Mapping[str, Hook] | None = None, *,
                   cache: bool = False):
  """The model's outputs with each ``hooks[name]`` applied to its site.

  ``cache=True`` also returns the cache of every site, holding the hooked
  values (what downstream computation saw).
  """
  hooks = dict(hooks or {})
  check_names(model, inputs, hooks, "hook")
  mutable = ("intermediates",) if cache else False
  if hooks:
    with nn.intercept_methods(_interceptor(hooks)):
      result = _apply(model, params, inputs, positions, mutable)
  else:
    result = _apply_compiled(model, params, inputs, positions, mutable)
  if not cache:
    return result
  outputs, state = result
  return outputs, cache_names(state["intermediates"])


def run_with_cache(model, params, inputs, positions=None,
                   names=None, hooks: Mapping[str, Hook] | None = None):
  """``(outputs, cache)``: ``cache`` maps each site name (or only those in
  ``names``) to its activation. Works under ``jax.jit`` (with ``model`` and
  ``names`` static) and with every positional encoding."""
  if names is not None:
    names = list(names)
    check_names(model, inputs, names)
  outputs, cache = run_with_hooks(model, params, inputs, positions, hooks,
                                  cache=True)
  if names is not None:
    cache = {n: cache[n] for n in names}
  return outputs, cache


def num_layers(cache: Mapping[str, jax.Array]) -> int:
  return 1 + max(int(n.split(".")[1]) for n in cache if n.startswith("blocks."))


def stack_layers(cache: Mapping[str, jax.Array], site: str) -> jax.Array:
  """A per-layer site (``'hook_attn_out'``, ``'attn.hook_pattern'``) over
  all layers: [L, ...]."""
  names = [f"blocks.{l}.{site}" for l in range(num_layers(cache))]
  missing = [n for n in names if n not in cache]
  if missing:
    raise ValueError(f"site {site!r} is not in the cache (missing {missing})")
  return jnp.stack([cache[n] for n in names])


# Axis of the head dimension in each per-head site.
HEAD_AXIS = {"attn.hook_q": 2, "attn.hook_k": 2, "attn.hook_v": 2,
             "attn.hook_z": 2, "attn.hook_attn_scores": 1,
             "attn.hook_pattern": 1}


def stack_heads(cache: Mapping[str, jax.Array], site: str) -> jax.Array:
  """A per-head site over all layers and heads: [L, H, B, ...] with the
  other axes in their site order (``attn.hook_pattern`` -> [L, H, B, T, S],
  ``attn.hook_z`` -> [L, H, B, T, K])."""
  if site not in HEAD_AXIS:
    raise ValueError(f"site {site!r} has no head axis; per-head sites are "
                     f"{sorted(HEAD_AXIS)}")
  return jnp.moveaxis(stack_layers(cache, site), 1 + HEAD_AXIS[site], 1)
