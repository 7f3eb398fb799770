"""A named activation site: where probing reads and writes the model.

``HookPoint`` is an identity module with no parameters. The model passes
every activation worth probing through one, named like TransformerLens's
sites (``hook_resid_pre``, ``attn.hook_pattern``, ...). It sows the value it
returns into the ``intermediates`` collection, so a plain ``apply`` with
``mutable=['intermediates']`` captures everything, and it is the method an
interceptor (``flax.linen.intercept_methods``) replaces to patch the site:
``icl/probing/hooks.py`` does exactly that. Without an interceptor it
changes nothing, so the plain forward pass is unchanged bit for bit.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

# The sown value's key under each site; ``site_name`` strips it again.
_SOWN = "value"


class HookPoint(nn.Module):

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    self.sow("intermediates", _SOWN, x)
    return x


def site_name(path: tuple[str, ...]) -> str:
  """Module path to TransformerLens-style name:
  ``('blocks_0', 'attn', 'hook_pattern')`` -> ``'blocks.0.attn.hook_pattern'``."""
  parts = []
  for name in path:
    parts.extend(name.split("_", 1) if name.startswith("blocks_") else [name])
  return ".".join(parts)


def cache_names(intermediates: Any) -> dict[str, jax.Array]:
  """Flattens sown intermediates to ``{site name: activation}``."""
  flat = {}
  for path, value in jax.tree_util.tree_flatten_with_path(
      intermediates, is_leaf=lambda x: isinstance(x, tuple))[0]:
    keys = tuple(str(entry.key) for entry in path)
    if keys[-1] == _SOWN:
      keys = keys[:-1]
    flat[site_name(keys)] = value[-1]
  return flat
