"""Greedy decoding: with a KV cache, and a plain reference without one.

Evaluation never needs these: exact match under teacher forcing equals
greedy decoding's (``icl/evaluate_lengths.py`` explains why). Use them when
the generated text itself matters, e.g. to print what a model answers.

Both functions take a prompt [B, P] of equal-length prompts and return the
``num_new`` tokens that follow it, [B, N]. Position ids for the prompt and
the generated tokens come from ``positions_BT`` ([B, P + N - 1]; default
0, 1, 2, ...), so models trained with randomized or task-specific positions
decode with the ids they expect.
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
def greedy(model, params, prompt_BP: jax.Array, num_new: int,
           positions_BT: jax.Array | None = None) -> jax.Array:
  """Greedy continuation with a KV cache: one token per step after a
  single pass over the prompt."""
  b, p = prompt_BP.shape
  positions_BT = _positions(prompt_BP, num_new, positions_BT)
  apply = functools.partial(model.apply, decode=True, mutable=["cache"])
  # A first call only sizes the cache, to the whole sequence.
  _, sized = apply({"params": params}, jnp.zeros_like(positions_BT),
                   positions_BT)
  logits_BPV, state = apply({"params": params, **sized}, prompt_BP,
                            positions_BT[:, :p])
  first_B = jnp.argmax(logits_BPV[:, -1], axis=-1).astype(prompt_BP.dtype)

  def step(carry, i):
    cache, token_B = carry
    position_B1 = jax.lax.dynamic_slice(positions_BT, (0, p + i), (b, 1))
    logits_B1V, state = apply({"params": params, **cache}, token_B[:, None],
                              position_B1)
    next_B = jnp.argmax(logits_B1V[:, -1], axis=-1).astype(token_B.dtype)
    return (state, next_B), token_B

  (_, last_B), tokens_NB = jax.lax.scan(step, (state, first_B),
                                        jnp.arange(num_new - 1))
  return jnp.concatenate([tokens_NB.T, last_B[:, None]], axis=1)


@functools.partial(jax.jit, static_argnums=(0, 3))
def greedy_uncached(model, params, prompt_BP: jax.Array, num_new: int,
                    positions_BT: jax.Array | None = None) -> jax.Array:
  """The same continuation by a full forward pass per new token."""
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


def answer_prompt(task, batch, n: int):
  """(prompt [B, P+2], answer with EOS [B, A+1]) of a batch whose examples
  all have problem length ``n``."""
  p, a = task.prompt_length(n), task.answer_length(n)
  return batch.inputs[:, :p + 2], batch.targets[:, p + 1:p + a + 2]


@functools.partial(jax.jit, static_argnums=(0, 6))
def complete(model, params, tokens_BT: jax.Array, prompt_length_B: jax.Array,
             positions_BT: jax.Array, key: jax.Array,
             temperature: float = 0.0) -> jax.Array:
  """Continues every row after its own prompt, to all T columns.

  Row b keeps its first ``prompt_length_B[b]`` tokens and generates the
  rest, so prompts of different lengths decode in one batch. The KV cache
  advances one column per step for every row: a row still in its prompt is
  fed its prompt token, a row past it the token it generated. Greedy at
  ``temperature`` 0, else sampled from softmax(logits / temperature).
  ``positions_BT`` are the ids of all T columns.
  """
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
