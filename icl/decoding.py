"""Decoding with a KV cache (``complete``), and a plain reference without
one (``greedy_uncached``, what the tests compare it with).

Exact match under teacher forcing equals greedy decoding's
(``icl/evaluators/lengths.py`` explains why), so the ``lengths`` evaluator
needs no decoding. Decode where the generated text itself matters: the
``decoded_lengths`` and ``arithmetic`` evaluators, or printing what a model
answers. Position ids come from ``positions_BT`` (default 0, 1, 2, ...), so
models trained with randomized or task-specific positions decode with the
ids they expect.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _positions(prompt_BP, num_new, positions_BT):
  b, p = prompt_BP.shape
  total = p + num_new - 1  # the last new token is never fed back
  if positions_BT is None:
    return jnp.broadcast_to(jnp.arange(total, dtype=jnp.int32), (b, total))
  return positions_BT[:, :total]


@functools.partial(jax.jit, static_argnums=(0, 3))
def greedy_uncached(model, params, prompt_BP: jax.Array, num_new: int,
                    positions_BT: jax.Array | None = None) -> jax.Array:
  """The ``num_new`` greedy tokens after equal-length prompts [B, P], by a
  full forward pass per new token: [B, N]. ``positions_BT``: [B, P+N-1]."""
  b, p = prompt_BP.shape
  positions_BT = _positions(prompt_BP, num_new, positions_BT)
  tokens_BT = jnp.zeros(positions_BT.shape, prompt_BP.dtype)
  tokens_BT = tokens_BT.at[:, :p].set(prompt_BP)

  def step(i, carry):
    tokens_BT, out_BN = carry
    logits_BTV = model.apply({"params": params}, tokens_BT, positions_BT)
    next_B = jnp.argmax(logits_BTV[:, p - 1 + i], axis=-1).astype(
        tokens_BT.dtype)
    # Later positions are still zeros; the causal mask keeps them unseen.
    # The last token is never fed back; clipping writes it over nothing read.
    at = jnp.minimum(p + i, tokens_BT.shape[1] - 1)
    tokens_BT = jax.lax.dynamic_update_slice(tokens_BT, next_B[:, None],
                                             (0, at))
    return tokens_BT, out_BN.at[:, i].set(next_B)

  _, out_BN = jax.lax.fori_loop(
      0, num_new, step, (tokens_BT, jnp.zeros((b, num_new), prompt_BP.dtype)))
  return out_BN


@functools.partial(jax.jit, static_argnums=(0, 6))
def complete(model, params, tokens_BT: jax.Array, prompt_length_B: jax.Array,
             positions_BT: jax.Array | None = None, key: jax.Array | None = None,
             temperature: float = 0.0) -> jax.Array:
  """Continues every row after its own prompt, to all T columns.

  Row b keeps its first ``prompt_length_B[b]`` tokens and generates the
  rest, so prompts of different lengths decode in one batch. The KV cache
  advances one column per step for every row: a row still in its prompt is
  fed its prompt token, a row past it the token it generated. Greedy at
  ``temperature`` 0, else sampled from softmax(logits / temperature).
  ``positions_BT`` are the ids of all T columns (default 0, 1, 2, ...);
  ``key`` is needed only to sample.
  """
  if positions_BT is None:
    positions_BT = jnp.broadcast_to(
        jnp.arange(tokens_BT.shape[1], dtype=jnp.int32), tokens_BT.shape)
  apply = functools.partial(model.apply, decode=True, mutable=["cache"])
  _, cache = apply({"params": params}, jnp.zeros_like(tokens_BT),
                   positions_BT)
  b = tokens_BT.shape[0]

  def step(carry, i):
    cache, token_B = carry
    position_B1 = jax.lax.dynamic_slice(positions_BT, (0, i), (b, 1))
    logits_B1V, cache = apply({"params": params, **cache}, token_B[:, None],
                              position_B1)
    if temperature > 0:
      choice_B = jax.random.categorical(jax.random.fold_in(key, i),
                                        logits_B1V[:, 0] / temperature)
    else:
      choice_B = jnp.argmax(logits_B1V[:, 0], axis=-1)
    given_B = jax.lax.dynamic_slice(tokens_BT, (0, i + 1), (b, 1))[:, 0]
    next_B = jnp.where(i + 1 < prompt_length_B, given_B,
                       choice_B.astype(tokens_BT.dtype))
    return (cache, next_B), next_B

  _, out_NB = jax.lax.scan(step, (cache, tokens_BT[:, 0]),
                           jnp.arange(tokens_BT.shape[1] - 1))
  return jnp.concatenate([tokens_BT[:, :1], out_NB.T], axis=1)
