"""Does each output step of a sorter attend to the next element to emit?

Awasthi & Gupta 2023 find that a sorting model attends, at each output
step, to the *successor* of the element it just emitted: the input
position holding the next value of the sorted output. For every head we
take, at each output step, the key where its attention peaks, and count a
hit when that key is a prompt position holding the value the step must
emit. Steps are those whose input is an emitted answer element and whose
target is the next one (the first element and the EOS are left out), so a
length-n example contributes n - 1 steps.

Peaks come from teacher forcing, whose prefixes are the true ones; on a
model that sorts correctly they are the steps greedy decoding takes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from icl.metrics import markdown_table
from icl.probing.hooks import run_with_cache, stack_layers
from icl.tasks.sequence.layout import SequenceTask


def attention_patterns(model, params, batch) -> jax.Array:
  """Attention patterns of every layer, [L, B, H, T, T]."""
  _, cache = run_with_cache(model, params, batch.inputs, batch.positions,
                            names=[f"blocks.{l}.attn.hook_pattern"
                                   for l in range(model.config.num_layers)])
  return stack_layers(cache, "attn.hook_pattern")


def successor_hits(pattern_LBHTS: jax.Array, batch, prompt_length: int,
                   answer_length: int) -> jax.Array:
  """Fraction of output steps whose attention peaks on the successor, per
  layer and head: [L, H]. All examples have the same lengths."""
  p, a = prompt_length, answer_length
  peak_LBHT = jnp.argmax(pattern_LBHTS, axis=-1)
  steps = jnp.arange(p + 2, p + a + 1)  # inputs: emitted answer elements
  peak_LBHN = peak_LBHT[..., steps]
  want_BN = batch.targets[:, steps]  # the element emitted next
  inputs_LBHT = jnp.broadcast_to(batch.inputs[None, :, None, :],
                                 peak_LBHT.shape)
  peak_token_LBHN = jnp.take_along_axis(inputs_LBHT, peak_LBHN, axis=-1)
  in_prompt_LBHN = (peak_LBHN >= 1) & (peak_LBHN <= p)
  hit_LBHN = in_prompt_LBHN & (peak_token_LBHN == want_BN[None, :, None, :])
  return jnp.mean(hit_LBHN.astype(jnp.float32), axis=(1, 3))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _hits_at(model, task: SequenceTask, n: int, batch_size: int, params, key):
  batch = task.sample_lengths(key, jnp.full((batch_size,), n, jnp.int32), n)
  return successor_hits(attention_patterns(model, params, batch), batch,
                        task.prompt_length(n), task.answer_length(n))


def successor_attention(model, params, task: SequenceTask, lengths,
                        key: jax.Array, batch_size: int = 64) -> dict:
  """{'lengths': [...], 'hits': [[L][H] per length]} for the task's
  primary sorting examples at each length (lengths >= 2)."""
  hits = [np.asarray(_hits_at(model, task, n, batch_size, params,
                              jax.random.fold_in(key, n))).tolist()
          for n in lengths]
  return {"lengths": list(lengths), "hits": hits}


def _head_names(probe: dict) -> list[str]:
  num_layers, num_heads = np.asarray(probe["hits"][0]).shape
  return [f"{l}.{h}" for l in range(num_layers) for h in range(num_heads)]


def best_heads(probe: dict) -> list[tuple[str, float]]:
  """Per length, the head ('layer.head') with the most hits, and its rate."""
  heads = _head_names(probe)
  flat = [np.asarray(hits).ravel() for hits in probe["hits"]]
  return [(heads[int(f.argmax())], float(f.max())) for f in flat]


def table(probe: dict) -> str:
  """Lengths x heads ('layer.head'), with the best head per length."""
  rows = [[n] + [f"{v:.2f}" for v in np.asarray(hits).ravel()] +
          [f"{head} ({rate:.2f})"]
          for n, hits, (head, rate) in zip(probe["lengths"], probe["hits"],
                                           best_heads(probe))]
  return markdown_table(["length"] + _head_names(probe) + ["best head"], rows)
