"""Head detectors: previous-token, duplicate-token and induction scores.

Each score is the attention mass a head puts on the keys where its pattern
says it should look, averaged over the query rows where that pattern is
*defined* (Olsson et al. 2022). Averaging over every row instead, as
TransformerLens's detector does, caps a perfect induction head at the share
of rows that have an earlier occurrence (about half on a repeated
sequence).

- previous token: row t (t >= 1) should look at t - 1;
- duplicate token: row t should look at the earlier keys s < t holding the
  same token; defined where there is one;
- induction: row t should look at the keys s < t that *follow* an earlier
  occurrence of token t (tokens[s - 1] == tokens[t]); defined where there is
  one.

Patterns are [L, B, H, T, S] (``hooks.stack_layers(cache,
'attn.hook_pattern')``); scores are [L, H].
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from icl.probing.hooks import run_with_cache, stack_layers

DETECTORS = ("previous_token", "duplicate_token", "induction")


def _score(pattern_LBHTS: jax.Array, targets_BTS: jax.Array) -> jax.Array:
  """Mean over the defined rows (any target) of the mass on the targets."""
  targets_BTS = targets_BTS.astype(pattern_LBHTS.dtype)
  mass_LBHT = jnp.einsum("lbhts,bts->lbht", pattern_LBHTS, targets_BTS)
  defined_BT = (jnp.sum(targets_BTS, axis=-1) > 0).astype(mass_LBHT.dtype)
  rows = jnp.maximum(jnp.sum(defined_BT), 1.0)
  return jnp.einsum("lbht,bt->lh", mass_LBHT, defined_BT) / rows


def target_keys(kind: str, tokens_BT: jax.Array) -> jax.Array:
  """[B, T, S] boolean: the keys row t should attend to under ``kind``."""
  t = tokens_BT.shape[1]
  query_T1, key_1S = jnp.arange(t)[:, None], jnp.arange(t)[None, :]
  if kind == "previous_token":
    return jnp.broadcast_to(key_1S == query_T1 - 1, tokens_BT.shape + (t,))
  earlier_TS = key_1S < query_T1
  if kind == "duplicate_token":
    same_BTS = tokens_BT[:, :, None] == tokens_BT[:, None, :]
    return same_BTS & earlier_TS
  if kind == "induction":
    # Key s follows an occurrence of token t: tokens[s - 1] == tokens[t].
    before_BS = jnp.pad(tokens_BT[:, :-1], ((0, 0), (1, 0)),
                        constant_values=-1)
    follows_BTS = tokens_BT[:, :, None] == before_BS[:, None, :]
    return follows_BTS & earlier_TS & (key_1S >= 1)
  raise ValueError(f"detector must be one of {DETECTORS}, got {kind!r}")


def head_scores(kind: str, pattern_LBHTS: jax.Array,
                tokens_BT: jax.Array) -> jax.Array:
  """[L, H] score of every head under ``kind`` (see the module docstring)."""
  return _score(pattern_LBHTS, target_keys(kind, tokens_BT))


def repeated_random_tokens(key: jax.Array, batch_size: int, length: int,
                           low: int, high: int,
                           prefix: int | None = None) -> jax.Array:
  """[B, 2 * length (+1)]: ``length`` tokens drawn uniformly from
  [low, high), then the same tokens again; ``prefix`` (e.g. a BOS id) first."""
  first_BN = jax.random.randint(key, (batch_size, length), low, high)
  tokens_BT = jnp.concatenate([first_BN, first_BN], axis=1)
  if prefix is not None:
    tokens_BT = jnp.pad(tokens_BT, ((0, 0), (1, 0)), constant_values=prefix)
  return tokens_BT.astype(jnp.int32)


def induction_protocol(model, params, key: jax.Array, length: int = 20,
                       batch_size: int = 32, low: int = 0,
                       high: int | None = None, prefix: int | None = None,
                       positions=None) -> dict:
  """Olsson et al.'s induction test on repeated random tokens.

  Returns the three detectors' [L, H] scores and the next-token loss on the
  first and second copies: an induction circuit makes the second copy's
  loss far lower than the first's, whose tokens are unpredictable.
  """
  high = model.config.vocab_size if high is None else high
  if not 0 <= low < high <= model.config.vocab_size:
    raise ValueError(f"token range [{low}, {high}) must lie in the "
                     f"vocabulary [0, {model.config.vocab_size})")
  scores, first, second = _protocol(model, params, key, length, batch_size,
                                    low, high, prefix, positions)
  out = {kind: np.asarray(s) for kind, s in zip(DETECTORS, scores)}
  out["loss_first_copy"] = float(first)
  out["loss_second_copy"] = float(second)
  return out


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5, 6, 7))
def _protocol(model, params, key, length, batch_size, low, high, prefix,
              positions):
  tokens_BT = repeated_random_tokens(key, batch_size, length, low, high,
                                     prefix)
  logits_BTV, cache = run_with_cache(model, params, tokens_BT, positions)
  pattern_LBHTS = stack_layers(cache, "attn.hook_pattern")
  logp_BTV = jax.nn.log_softmax(logits_BTV[:, :-1], axis=-1)
  nll_BT = -jnp.take_along_axis(logp_BTV, tokens_BT[:, 1:, None], -1)[..., 0]
  start = 0 if prefix is None else 1  # index of the first copy's first token
  # nll_BT[:, i] is the loss of predicting token i + 1.
  first = jnp.mean(nll_BT[:, start:start + length - 1])
  second = jnp.mean(nll_BT[:, start + length:])
  scores = tuple(head_scores(kind, pattern_LBHTS, tokens_BT)
                 for kind in DETECTORS)
  return scores, first, second
