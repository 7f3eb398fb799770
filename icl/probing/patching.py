"""Ablation, activation patching and attribution patching.

Activation patching runs the model on one input while a site holds the
activation it had on another:

- ``direction='denoise'`` (corrupted -> clean): run the corrupted input and
  patch in clean activations. A high score says the patched piece is
  *sufficient* to restore the clean behaviour.
- ``direction='noise'`` (clean -> corrupted): run the clean input and patch
  in corrupted activations. A large drop says the piece is *necessary*.

A sweep patches one index at a time (a position, a head, or a whole site)
across a list of sites. Every patched run is the same function of an
integer index, so the sweep is one ``jax.vmap`` over indices, compiled
once, instead of S x N separate forward passes; ``batch_size`` bounds how
many run at once (``jax.lax.map`` over chunks) when memory is short.

Attribution patching estimates the same sweep from one forward and one
backward pass: (a_source - a_base) . d metric / d a_base, summed over the
patched slice (Nanda 2023; exact when the metric is linear in the site).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from icl.probing import scores
from icl.probing.hooks import HEAD_AXIS, run_with_cache, run_with_hooks

OVER = ("position", "head", "site")
DIRECTIONS = ("denoise", "noise")
ABLATIONS = ("zero", "mean", "resample")


def per_layer(num_layers: int, site: str) -> list[str]:
  """``per_layer(2, 'hook_resid_pre')`` -> the site's name in every layer."""
  return [f"blocks.{l}.{site}" for l in range(num_layers)]


def _index_axis(name: str, over: str) -> int | None:
  """Axis of a site's activation that ``over`` indexes (None: all of it)."""
  site = name.split(".", 2)[-1] if name.startswith("blocks.") else name
  if over == "site":
    return None
  if over == "head":
    if site not in HEAD_AXIS:
      raise ValueError(f"over='head' needs per-head sites {sorted(HEAD_AXIS)}"
                       f", got {name!r}")
    return HEAD_AXIS[site]
  # Attention scores and patterns are [B, H, T, S]: a position is a query.
  return 2 if site in ("attn.hook_attn_scores", "attn.hook_pattern") else 1


def _check(over, direction, clean_inputs, corrupted_inputs):
  if over not in OVER:
    raise ValueError(f"over must be one of {OVER}, got {over!r}")
  if direction not in DIRECTIONS:
    raise ValueError(f"direction must be one of {DIRECTIONS}, got "
                     f"{direction!r}")
  if clean_inputs.shape != corrupted_inputs.shape:
    raise ValueError(f"clean inputs {clean_inputs.shape} and corrupted inputs "
                     f"{corrupted_inputs.shape} must have the same shape")


def _num_indices(source_cache, sites, over) -> int:
  sizes = {1 if (a := _index_axis(n, over)) is None else
           source_cache[n].shape[a] for n in sites}
  if len(sizes) != 1:
    raise ValueError(f"the sites {list(sites)} have different sizes along "
                     f"over={over!r}: {sorted(sizes)}")
  return sizes.pop()


@dataclasses.dataclass(frozen=True)
class PatchingResult:
  """``scores[s, i]``: the metric with index i of ``sites[s]`` patched."""
  sites: tuple[str, ...]
  over: str
  direction: str
  scores: np.ndarray  # [S, N]
  clean: float
  corrupted: float

  @property
  def normalized(self) -> np.ndarray:
    """0 = the corrupted run's metric, 1 = the clean run's."""
    return np.asarray(scores.normalized(self.scores, self.clean,
                                        self.corrupted))


def _runs(direction, clean_inputs, corrupted_inputs):
  """(base inputs, source inputs) of the patched runs."""
  if direction == "denoise":
    return corrupted_inputs, clean_inputs
  return clean_inputs, corrupted_inputs


def patching_sweep(model, params, clean_inputs, corrupted_inputs,
                   sites: Sequence[str], metric: Callable, *,
                   over: str = "position", direction: str = "denoise",
                   positions=None, batch_size: int | None = None
                   ) -> PatchingResult:
  """Patch each index of each site in turn; see the module docstring.

  ``metric(outputs) -> scalar``. Both runs use ``positions``.
  """
  sites = tuple(sites)
  _check(over, direction, clean_inputs, corrupted_inputs)

  @jax.jit
  def sweep(params, clean_inputs, corrupted_inputs, positions):
    clean_out, clean_cache = run_with_cache(model, params, clean_inputs,
                                            positions, names=sites)
    corrupted_out, corrupted_cache = run_with_cache(
        model, params, corrupted_inputs, positions, names=sites)
    base_inputs, _ = _runs(direction, clean_inputs, corrupted_inputs)
    source = clean_cache if direction == "denoise" else corrupted_cache
    n = _num_indices(source, sites, over)

    def patched(index):
      site_index, i = index // n, index % n
      hooks = {}
      for k, name in enumerate(sites):
        axis = _index_axis(name, over)
        shape = [1] * source[name].ndim
        if axis is not None:
          shape[axis] = n
        chosen = ((jnp.arange(n) == i) & (site_index == k)).reshape(
            shape if axis is not None else [1] * len(shape))
        hooks[name] = (lambda x, name=name, chosen=chosen:
                       jnp.where(chosen, source[name], x))
      return metric(run_with_hooks(model, params, base_inputs, positions,
                                   hooks))

    indices = jnp.arange(len(sites) * n)
    if batch_size is None:
      values = jax.vmap(patched)(indices)
    else:
      values = jax.lax.map(patched, indices, batch_size=batch_size)
    return (values.reshape(len(sites), n), metric(clean_out),
            metric(corrupted_out))

  values, clean, corrupted = sweep(params, clean_inputs, corrupted_inputs,
                                   positions)
  return PatchingResult(sites, over, direction, np.asarray(values),
                        float(clean), float(corrupted))


def attribution_patching(model, params, clean_inputs, corrupted_inputs,
                         sites: Sequence[str], metric: Callable, *,
                         over: str = "position", direction: str = "denoise",
                         positions=None) -> np.ndarray:
  """The first-order estimate of ``patching_sweep(...).scores`` minus the
  base run's metric: [S, N], from one forward and one backward pass."""
  sites = tuple(sites)
  _check(over, direction, clean_inputs, corrupted_inputs)
  base_inputs, source_inputs = _runs(direction, clean_inputs,
                                     corrupted_inputs)

  @jax.jit
  def estimate(params, base_inputs, source_inputs, positions):
    _, source = run_with_cache(model, params, source_inputs, positions,
                               names=sites)
    _, base = run_with_cache(model, params, base_inputs, positions,
                             names=sites)

    def shifted_metric(deltas):
      hooks = {name: (lambda x, name=name: x + deltas[name])
               for name in sites}
      return metric(run_with_hooks(model, params, base_inputs, positions,
                                   hooks))

    grads = jax.grad(shifted_metric)(
        {name: jnp.zeros_like(base[name]) for name in sites})
    rows = []
    for name in sites:
      effect = (source[name] - base[name]) * grads[name]
      axis = _index_axis(name, over)
      if axis is None:
        rows.append(jnp.sum(effect)[None])
      else:
        rows.append(jnp.sum(jnp.moveaxis(effect, axis, 0).reshape(
            effect.shape[axis], -1), axis=1))
    return jnp.stack(rows)

  return np.asarray(estimate(params, base_inputs, source_inputs, positions))


def ablation_value(kind: str, activation: jax.Array,
                   key: jax.Array | None = None) -> jax.Array:
  """What replaces an ablated activation [B, ...]: zeros, its mean over the
  batch ([1, ...], which broadcasts to any batch), or (resample) another
  example's activation."""
  if kind == "zero":
    return jnp.zeros_like(activation)
  if kind == "mean":
    return jnp.mean(activation, axis=0, keepdims=True)
  if kind == "resample":
    if key is None:
      raise ValueError("resample ablation needs a key")
    b = activation.shape[0]
    # A random shift of 1..b-1 sends every example to a different one.
    shift = jax.random.randint(key, (), 1, max(b, 2))
    return jnp.roll(activation, shift, axis=0)
  raise ValueError(f"ablation must be one of {ABLATIONS}, got {kind!r}")


def replace_hook(value: jax.Array, where=None):
  """A hook that swaps in ``value`` (where the boolean ``where``, which
  broadcasts against the activation, is true; everywhere if None)."""
  if where is None:
    return lambda x: jnp.broadcast_to(value, x.shape)
  return lambda x: jnp.where(where, value, x)


def ablate(model, params, inputs, site: str, kind: str, *, positions=None,
           where=None, reference=None, key=None):
  """The model's outputs with ``site`` ablated (where ``where`` holds).
  ``mean`` and ``resample`` draw on ``reference`` inputs (default: the
  inputs themselves); ``reference`` must have the inputs' batch size for
  ``resample``."""
  if kind not in ABLATIONS:
    raise ValueError(f"ablation must be one of {ABLATIONS}, got {kind!r}")
  reference = inputs if reference is None else reference
  _, cache = run_with_cache(model, params, reference, positions,
                            names=[site])
  value = ablation_value(kind, cache[site], key)
  return run_with_hooks(model, params, inputs, positions,
                        {site: replace_hook(value, where)})


def head_mask(num_heads: int, heads: Sequence[int], site: str = "attn.hook_z",
              ndim: int = 4) -> jax.Array:
  """A ``where`` selecting ``heads`` of a per-head site, broadcastable."""
  shape = [1] * ndim
  shape[HEAD_AXIS[site]] = num_heads
  return jnp.isin(jnp.arange(num_heads), jnp.asarray(heads)).reshape(shape)
