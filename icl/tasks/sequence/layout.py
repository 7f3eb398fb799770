"""Token tasks for length generalization: the shared layout and loss.

One example is

    BOS  prompt_1 .. prompt_P  SEP  answer_1 .. answer_A  EOS  PAD ...

where the problem length n (drawn per example from [min_length,
max_length]) fixes P = prompt_length(n) and A = answer_length(n). A batch is
padded on the right to the longest length it may hold. The model reads
tokens[:-1] and predicts tokens[1:]; the loss counts only the answer tokens
and the EOS that ends them.

Padding needs no attention mask of its own: it comes after every real token,
and the causal mask keeps any query from seeing a later key, so real tokens
never see padding and the loss mask drops what padding positions predict.

A new task is a subclass that says how long its prompt and answer are and
how to draw one example (see ``copy.py``, a dozen lines, plus one line
in this package's ``TASKS``; tasks over a free
alphabet start from ``AlphabetTask``). Symbols are
numbered 0..num_symbols-1 in ``example``; the vocabulary puts the special
tokens first.
"""

from __future__ import annotations

import abc
import dataclasses

import jax
import jax.numpy as jnp
import optax

from icl import fields
from icl.data.batch import Batch
from icl.data.vocab import BOS, EOS, PAD, SEP, SPECIAL_TOKENS
from icl.errors import invalid
from icl.tasks.base import Task



@dataclasses.dataclass(frozen=True)
class SequenceTask(Task):
  min_length: int = 1
  max_length: int = 20  # the longest problem length seen in training

  input_kind = "tokens"
  head = "logits"
  default_evals = ("lengths",)
  mixable = True  # a component of ``MixtureTask`` (same num_symbols)

  def validate(self) -> None:
    fields.positive_int("task.min_length", self.min_length)
    fields.positive_int("task.max_length", self.max_length)
    if self.max_length < self.min_length:
      raise invalid("task.max_length", self.max_length,
                    f"at least task.min_length={self.min_length}")

  def validate_eval(self, eval_cfg) -> None:
    self.check_config(max(self.max_length, eval_cfg.max_length))

  def longest_sequence(self, eval_cfg) -> tuple[int, str]:
    if eval_cfg.max_length > self.max_length:
      return (self.sequence_length(eval_cfg.max_length),
              f"eval.max_length={eval_cfg.max_length}")
    return self.sequence_length(), "training"

  @property
  @abc.abstractmethod
  def num_symbols(self) -> int:
    """Distinct symbols in prompts and answers."""

  @abc.abstractmethod
  def prompt_length(self, n):
    """P for problem length n (works on ints and int arrays)."""

  @abc.abstractmethod
  def answer_length(self, n):
    """A for problem length n (works on ints and int arrays)."""

  @abc.abstractmethod
  def example(self, key: jax.Array, n: jax.Array, max_n: int
              ) -> tuple[jax.Array, jax.Array]:
    """(prompt [P_max], answer [A_max]) symbol ids for a traced length n;
    only the first prompt_length(n) / answer_length(n) entries are read.
    P_max and A_max are the lengths at ``max_n``."""

  @property
  def vocab_size(self) -> int:
    return len(SPECIAL_TOKENS) + self.num_symbols

  def sequence_length(self, length: int | None = None) -> int:
    n = self.max_length if length is None else length
    return self.prompt_length(n) + self.answer_length(n) + 2

  def sample(self, key: jax.Array, batch_size: int,
             length: int | None = None) -> Batch:
    """Lengths uniform in [min_length, max_length], or all ``length``."""
    length_key, key = jax.random.split(key)
    lengths_B, max_n = self.draw_lengths(length_key, batch_size, length)
    return self.sample_lengths(key, lengths_B, max_n)

  def draw_lengths(self, key: jax.Array, batch_size: int,
                   length: int | None = None) -> tuple[jax.Array, int]:
    """(problem lengths [B], the longest they may be): uniform in
    [min_length, max_length], or all ``length``."""
    if length is not None:
      return jnp.full((batch_size,), length, jnp.int32), length
    return jax.random.randint(key, (batch_size,), self.min_length,
                              self.max_length + 1), self.max_length

  def sample_lengths(self, key: jax.Array, lengths_B: jax.Array,
                     max_n: int) -> Batch:
    """One example per entry of ``lengths_B`` (each <= max_n), padded to
    the sequence length of ``max_n``."""
    prompt_BP, answer_BA = jax.vmap(lambda k, n: self.example(k, n, max_n))(
        jax.random.split(key, lengths_B.shape[0]), lengths_B)
    tokens_BL = jax.vmap(self._assemble)(prompt_BP, answer_BA, lengths_B)
    p_B1 = self.prompt_length(lengths_B)[:, None]
    a_B1 = self.answer_length(lengths_B)[:, None]
    t_T = jnp.arange(tokens_BL.shape[1] - 1)[None, :]
    # Target t is token t + 1: answers sit at tokens P+2 .. P+A+1, EOS at
    # P+A+2, so targets P+1 .. P+A+1 count.
    in_answer_BT = (t_T >= p_B1 + 1) & (t_T <= p_B1 + a_B1 + 1)
    b, t = lengths_B.shape[0], tokens_BL.shape[1] - 1
    return Batch(
        inputs=tokens_BL[:, :-1],
        targets=tokens_BL[:, 1:],
        loss_mask=in_answer_BT.astype(jnp.float32),
        positions=jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t)),
        extras={"lengths": lengths_B.astype(jnp.int32),
                "num_tokens": (p_B1 + a_B1 + 2)[:, 0].astype(jnp.int32)},
    )

  def _assemble(self, prompt_P, answer_A, n):
    p, a = self.prompt_length(n), self.answer_length(n)
    size = prompt_P.shape[0] + answer_A.shape[0] + 3
    i = jnp.arange(size)
    offset = len(SPECIAL_TOKENS)
    from_prompt = jnp.take(prompt_P, jnp.clip(i - 1, 0, prompt_P.shape[0] - 1))
    from_answer = jnp.take(answer_A, jnp.clip(i - p - 2, 0,
                                              answer_A.shape[0] - 1))
    return jnp.select(
        [i == 0, i <= p, i == p + 1, i <= p + a + 1, i == p + a + 2],
        [BOS, from_prompt + offset, SEP, from_answer + offset, EOS],
        PAD).astype(jnp.int32)

  def token_loss(self, logits_BTV: jax.Array, batch: Batch) -> jax.Array:
    return token_cross_entropy(logits_BTV, batch)

  def loss_weights(self, batch: Batch) -> jax.Array:
    return mask_weights(batch)

  def check_config(self, longest: int) -> None:
    """Raises ConfigError for task fields that cannot serve sequences of
    up to ``longest`` problem length (training or evaluation)."""
    del longest

  def symbol_name(self, symbol: int) -> str:
    return str(symbol)

  def decode_tokens(self, tokens) -> str:
    """Human-readable text of a token row, for printing examples."""
    names = list(SPECIAL_TOKENS) + [self.symbol_name(s)
                                    for s in range(self.num_symbols)]
    return " ".join(names[int(t)] for t in tokens)


@dataclasses.dataclass(frozen=True)
class AlphabetTask(SequenceTask):
  """A prompt of n symbols drawn uniformly (repeats allowed) from an
  alphabet, and an answer of n symbols computed from it."""

  alphabet: int = 16

  @property
  def num_symbols(self):
    return self.alphabet

  def prompt_length(self, n):
    return n

  def answer_length(self, n):
    return n

  def check_config(self, longest: int) -> None:
    fields.positive_int("task.alphabet", self.alphabet)

  def random_prompt(self, key: jax.Array, max_n: int) -> jax.Array:
    return jax.random.randint(key, (max_n,), 0, self.alphabet)


def token_cross_entropy(logits_BTV: jax.Array, batch: Batch) -> jax.Array:
  """[B, T] next-token cross-entropy against ``batch.targets``."""
  return optax.softmax_cross_entropy_with_integer_labels(logits_BTV,
                                                         batch.targets)


def mask_weights(batch: Batch) -> jax.Array:
  """[B, T] weights of the mean over the positions ``loss_mask`` keeps
  (all 0, not NaN, for a batch that keeps none)."""
  return batch.loss_mask / jnp.maximum(jnp.sum(batch.loss_mask), 1.0)
