"""``ArithmeticTask``: training on a finite set of arithmetic problems.

The problems come from a TFDS dataset (``icl/datasets/arithmetic.py``) and
are rendered once, on the host, in the configured format and position
scheme. The rendered arrays live on device; each step samples from them
with ``fold_in(data_key, step)``, so a run is still a pure function of its
config. Two packings (Lee et al. 2023 used the second):

- ``example``: one example per row, ``BOS prompt answer EOS PAD...``.
- ``stream``: the training examples, each followed by EOS, concatenated in
  a fixed order; each row is a random window of ``task.window`` tokens.

The loss covers the answer and its EOS (``loss_on='answer'``) or every real
token (``'all'``). ``delimiters='paper'`` writes Lee et al.'s ``$...$``
around the reversed format, and nothing around plain; ``'equal'`` writes
every format bare (BOS/EOS delimit every example alike).

Training may shift position ids (abacus, coupled) and hint tokens by a
random offset per example in [0, ``max_offset``]; evaluation never does.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from icl.datasets import arithmetic as datasets
from icl.tasks.arithmetic import formats, positions, problems
from icl.tasks.base import Batch, Task
from icl.tasks.sequence import BOS, EOS, PAD, masked_cross_entropy

PACKINGS = ("example", "stream")
LOSSES = ("answer", "all")
DELIMITERS = ("equal", "paper")


@dataclasses.dataclass(frozen=True)
class Table:
  """Rendered examples as padded numpy rows (host side)."""

  tokens: np.ndarray  # int32 [N, L]: BOS prompt answer EOS PAD...
  answer_mask: np.ndarray  # float32 [N, L]: answer tokens and their EOS
  position_ids: np.ndarray  # int32 [N, L]: scheme ids (0 where none)
  prompt_length: np.ndarray  # int32 [N]: BOS + prompt tokens
  length: np.ndarray  # int32 [N]: real tokens


@dataclasses.dataclass(frozen=True)
class ArithmeticTask(Task):
  op: str = "+"
  digits_a: tuple = (1, 3)
  digits_b: tuple = (1, 3)
  sampling: str = "carries"
  format: str = "plain"
  delimiters: str = "equal"
  positions: str = "default"
  max_offset: int = 0
  num_hints: int = 0  # hint tokens in the vocabulary (0: as many as needed)
  packing: str = "example"
  loss_on: str = "answer"
  window: int = 64  # tokens per row with packing='stream'
  num_train: int = 1000  # the first N problems of the training split
  train_size: int = 1000  # problems in the dataset's training split
  test_digits_a: tuple = (1, 3)
  test_digits_b: tuple = (1, 3)
  test_sampling: str = "carries"
  test_size: int = 1000
  data_seed: int = 0
  data_dir: str = ""

  input_kind = "tokens"
  head = "logits"
  ensemble_fields = ("num_train",)

  # -- the problems and their rendering (host side, cached) ---------------

  @property
  def dataset_spec(self) -> datasets.DatasetSpec:
    train = problems.ProblemSpec(self.op, tuple(self.digits_a),
                                 tuple(self.digits_b), self.sampling)
    test = problems.ProblemSpec(self.op, tuple(self.test_digits_a),
                                tuple(self.test_digits_b), self.test_sampling)
    return datasets.DatasetSpec(train, self.train_size, test, self.test_size,
                                self.data_seed)

  @property
  def dataset(self) -> datasets.Dataset:
    return datasets.load(self.dataset_spec, self.data_dir)

  @property
  def widest(self) -> tuple[int, int, int]:
    """Most digits of a, b and the answer over train and test ranges."""
    a = max(self.digits_a[1], self.test_digits_a[1])
    b = max(self.digits_b[1], self.test_digits_b[1])
    c = {"+": max(a, b) + 1, "-": max(a, b), "*": a + b}[self.op]
    return a, b, c

  @property
  def hints(self) -> int:
    """Hint tokens in the vocabulary."""
    if "index_hints" not in formats.parse_parts(self.format):
      return 0
    return self.num_hints or self.widest[2] + self.max_offset

  @property
  def text_format(self) -> formats.Format:
    parts = formats.parse_parts(self.format)
    return formats.Format(parts, self.widest,
                          dollars=self.delimiters == "paper"
                          and "reverse" in parts)

  @property
  def vocab(self) -> tuple[str, ...]:
    return formats.vocabulary(self.hints)

  @property
  def vocab_size(self) -> int:
    return len(self.vocab)

  @property
  def tables(self) -> dict[str, Table]:
    """{'train', 'test'}: the rendered splits (rendered once per dataset and
    format, whatever ``num_train``, which an ensemble traces)."""
    return _rendered_splits(dataclasses.replace(self, num_train=0))

  @property
  def _stream(self) -> dict[str, np.ndarray]:
    """The training split as one stream (without BOS), and where each
    example starts: offsets [train_size + 1]."""
    return _training_stream(dataclasses.replace(self, num_train=0))

  def _table(self, pairs, split: str) -> Table:
    ids = {t: i for i, t in enumerate(self.vocab)}
    fmt = self.text_format
    rows, masks, pos, prompts = [], [], [], []
    for i, (a, b) in enumerate(pairs):
      # Random spaces are fixed per example: seeded by split and index.
      rng = np.random.default_rng([self.data_seed, split == "test", i])
      example = formats.render(a, b, self.op, fmt, rng)
      tokens = [BOS] + [ids[t] for t in example.tokens] + [EOS]
      rows.append(tokens)
      prompts.append(1 + example.answer_start)
      masks.append([0.0] * prompts[-1] + [1.0] * (len(tokens) - prompts[-1]))
      scheme = positions.ids(self.positions, example)
      pos.append([0] + scheme + [0] if scheme is not None
                 else list(range(len(tokens))))
    width = max(map(len, rows))
    pad = lambda xs, v, dtype: np.array(
        [x + [v] * (width - len(x)) for x in xs], dtype)
    return Table(tokens=pad(rows, PAD, np.int32),
                 answer_mask=pad(masks, 0.0, np.float32),
                 position_ids=pad(pos, 0, np.int32),
                 prompt_length=np.array(prompts, np.int32),
                 length=np.array(list(map(len, rows)), np.int32))

  # -- the Task interface ---------------------------------------------------

  def sequence_length(self, length: int | None = None) -> int:
    """Model inputs per row: the longest example (train or test) less one,
    or the stream window."""
    del length
    longest = max(t.tokens.shape[1] for t in self.tables.values()) - 1
    return max(longest, self.window) if self.packing == "stream" else longest

  def max_position_id(self) -> int:
    """The largest id of the position scheme, offsets included."""
    if self.positions == "default":
      return self.sequence_length() - 1
    top = max(int(t.position_ids.max()) for t in self.tables.values())
    return top + self.max_offset

  def sample(self, key: jax.Array, batch_size: int,
             length: int | None = None) -> Batch:
    del length
    pick_key, offset_key = jax.random.split(key)
    if self.packing == "stream":
      batch = self._windows(pick_key, batch_size)
    else:
      batch = self._examples(pick_key, batch_size)
    return self._shift(offset_key, batch)

  def _examples(self, key, batch_size) -> Batch:
    t = self.tables["train"]
    index_B = jax.random.randint(key, (batch_size,), 0, self.num_train)
    rows_BL = jnp.asarray(t.tokens)[index_B]
    mask_BL = jnp.asarray(t.answer_mask)[index_B]
    if self.loss_on == "all":
      mask_BL = (rows_BL != PAD).astype(jnp.float32)
    return Batch(inputs=rows_BL[:, :-1], targets=rows_BL[:, 1:],
                 loss_mask=mask_BL[:, 1:],
                 positions=jnp.asarray(t.position_ids)[index_B][:, :-1],
                 extras={"num_tokens": jnp.asarray(t.length)[index_B] - 1})

  def _windows(self, key, batch_size) -> Batch:
    s = self._stream
    end = jnp.asarray(s["offsets"])[self.num_train]
    start_B = jax.random.randint(key, (batch_size,), 0,
                                 jnp.maximum(end - self.window, 1))
    cut = lambda arr: jax.vmap(lambda i: jax.lax.dynamic_slice(
        jnp.asarray(arr), (i,), (self.window + 1,)))(start_B)
    rows_BL = cut(s["tokens"])
    mask_BL = (cut(s["answer_mask"]) if self.loss_on == "answer"
               else jnp.ones(rows_BL.shape, jnp.float32))
    if self.positions == "default":
      pos_BL = jnp.broadcast_to(jnp.arange(self.window + 1, dtype=jnp.int32),
                                rows_BL.shape)
    else:
      pos_BL = cut(s["position_ids"])
    return Batch(inputs=rows_BL[:, :-1], targets=rows_BL[:, 1:],
                 loss_mask=mask_BL[:, 1:], positions=pos_BL[:, :-1],
                 extras={"num_tokens": jnp.full((batch_size,), self.window,
                                                jnp.int32)})

  def _shift(self, key, batch: Batch) -> Batch:
    """Training offsets for scheme ids and hint tokens."""
    if not self.max_offset:
      return batch
    b = batch.inputs.shape[0]
    offset_B1 = jax.random.randint(key, (b, 1), 0, self.max_offset + 1)
    if self.positions != "default":
      batch = batch.replace(positions=jnp.where(
          batch.positions > 0, batch.positions + offset_B1, 0))
    if self.hints:
      first = len(self.vocab) - self.hints
      top = len(self.vocab) - 1
      shift = lambda x: jnp.where(x >= first, jnp.minimum(x + offset_B1, top),
                                  x)
      batch = batch.replace(inputs=shift(batch.inputs),
                            targets=shift(batch.targets))
    return batch

  def loss(self, logits_BTV: jax.Array, batch: Batch) -> jax.Array:
    return masked_cross_entropy(logits_BTV, batch)

  def decode_tokens(self, tokens) -> str:
    """Text of a token row (special tokens named, PAD dropped)."""
    vocab = self.vocab
    return "".join(vocab[int(t)] if int(t) > EOS else
                   ("" if int(t) == PAD else f"[{vocab[int(t)]}]")
                   for t in tokens)


# Keyed by the task with num_train=0: one rendering serves every N.
@functools.lru_cache(maxsize=8)
def _rendered_splits(task: ArithmeticTask) -> dict[str, Table]:
  data = task.dataset
  return {"train": task._table(data.train, "train"),
          "test": task._table(data.test, "test")}


@functools.lru_cache(maxsize=8)
def _training_stream(task: ArithmeticTask) -> dict[str, np.ndarray]:
  t = task.tables["train"]
  keep = [np.arange(1, n) for n in t.length]  # drop BOS, keep EOS
  take = lambda arr: np.concatenate([arr[i, k] for i, k in enumerate(keep)])
  sizes = np.array([len(k) for k in keep])
  return {"tokens": take(t.tokens), "answer_mask": take(t.answer_mask),
          "position_ids": take(t.position_ids),
          "offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)}
