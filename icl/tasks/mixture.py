"""A weighted mixture of token tasks that share a vocabulary.

Each example is drawn from task k with probability w_k / sum(w), and a
task token right after BOS says which task it is:

    BOS  TASK_k  prompt  SEP  answer  EOS

The task tokens come after the shared vocabulary, one per component. The
loss weighs each task's mean answer-token loss by w_k (over the tasks
present in the batch), so a weight is the task's share of the objective
whatever its answer length: a one-token successor answer counts as much as
a twenty-token sort at equal weights.

The first component is the *primary* task: ``sample_lengths``, which
evaluation calls, draws it alone, so per-length accuracy measures the task
being taught and not its hints. Mixing is generic: any ``SequenceTask``s
with the same ``num_symbols`` can be mixed, e.g. copy with reverse.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from icl.tasks.base import Batch
from icl.tasks.sequence import PAD, SequenceTask


@dataclasses.dataclass(frozen=True)
class Prefixed(SequenceTask):
  """``task`` with the symbol ``prefix`` put before its prompt."""

  task: SequenceTask | None = None
  prefix: int = 0
  total_symbols: int = 0  # the shared symbols plus every task token

  @property
  def num_symbols(self):
    return self.total_symbols

  def prompt_length(self, n):
    return self.task.prompt_length(n) + 1

  def answer_length(self, n):
    return self.task.answer_length(n)

  def example(self, key, n, max_n):
    prompt_P, answer_A = self.task.example(key, n, max_n)
    return jnp.concatenate([jnp.full((1,), self.prefix, prompt_P.dtype),
                            prompt_P]), answer_A


@dataclasses.dataclass(frozen=True)
class MixtureTask(SequenceTask):
  components: tuple[SequenceTask, ...] = ()
  names: tuple[str, ...] = ()
  weights: tuple[float, ...] = ()

  @property
  def shared_symbols(self) -> int:
    return self.components[0].num_symbols

  @property
  def num_symbols(self):
    return self.shared_symbols + len(self.components)

  def symbol_name(self, symbol: int) -> str:
    if symbol < self.shared_symbols:
      return self.components[0].symbol_name(symbol)
    return f"<{self.names[symbol - self.shared_symbols]}>"

  def task_token(self, k: int) -> int:
    """The token id that announces component k."""
    return self.vocab_size - len(self.components) + k

  @property
  def prefixed(self) -> tuple[Prefixed, ...]:
    return tuple(
        Prefixed(min_length=self.min_length, max_length=self.max_length,
                 task=t, prefix=self.shared_symbols + k,
                 total_symbols=self.num_symbols)
        for k, t in enumerate(self.components))

  def prompt_length(self, n):
    return self.components[0].prompt_length(n) + 1

  def answer_length(self, n):
    return self.components[0].answer_length(n)

  def example(self, key, n, max_n):
    # So the inherited ``sample_lengths``, which evaluation calls, draws the
    # primary task alone, with its task token.
    return self.prefixed[0].example(key, n, max_n)

  def sequence_length(self, length: int | None = None) -> int:
    if length is not None:  # evaluation: the primary task only
      return super().sequence_length(length)
    return max(t.sequence_length() for t in self.prefixed)

  def sample(self, key: jax.Array, batch_size: int,
             length: int | None = None) -> Batch:
    kind_key, length_key, key = jax.random.split(key, 3)
    weights = jnp.asarray(self.weights, jnp.float32)
    kind_B = jax.random.categorical(kind_key, jnp.log(weights),
                                    shape=(batch_size,))
    lengths_B, max_n = self.draw_lengths(length_key, batch_size, length)
    batches = [t.sample_lengths(jax.random.fold_in(key, k), lengths_B, max_n)
               for k, t in enumerate(self.prefixed)]
    width = max(b.inputs.shape[1] for b in batches)

    def pad(x_BT, size, value):
      return jnp.pad(x_BT, ((0, 0), (0, size - x_BT.shape[1])),
                     constant_values=value)

    def pick(arrays, size, value):
      out = pad(arrays[0], size, value)
      for k, x in enumerate(arrays[1:], start=1):
        out = jnp.where((kind_B == k)[:, None], pad(x, size, value), out)
      return out

    # Whole token rows, so that a shorter task's last token (only in its
    # targets) stays in the inputs once padded.
    tokens_BL = pick([jnp.concatenate([b.inputs, b.targets[:, -1:]], axis=1)
                      for b in batches], width + 1, PAD)
    num_tokens_B = pick([b.extras["num_tokens"][:, None] for b in batches],
                        1, 0)[:, 0]
    return Batch(
        inputs=tokens_BL[:, :-1],
        targets=tokens_BL[:, 1:],
        loss_mask=pick([b.loss_mask for b in batches], width, 0.0),
        positions=jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32),
                                   (batch_size, width)),
        extras={"lengths": lengths_B.astype(jnp.int32),
                "num_tokens": num_tokens_B, "task": kind_B.astype(jnp.int32)})

  def loss(self, logits_BTV: jax.Array, batch: Batch) -> jax.Array:
    if "task" not in batch.extras:  # a primary-task batch
      return super().loss(logits_BTV, batch)
    nll_BT = optax.softmax_cross_entropy_with_integer_labels(
        logits_BTV, batch.targets) * batch.loss_mask
    one_hot_BK = jax.nn.one_hot(batch.extras["task"], len(self.components))
    nll_K = jnp.sum(nll_BT, axis=1) @ one_hot_BK
    count_K = jnp.sum(batch.loss_mask, axis=1) @ one_hot_BK
    weight_K = jnp.asarray(self.weights, jnp.float32) * (count_K > 0)
    mean_K = nll_K / jnp.maximum(count_K, 1.0)
    return jnp.sum(weight_K * mean_K) / jnp.sum(weight_K)
