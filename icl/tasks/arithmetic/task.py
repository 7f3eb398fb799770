"""``ArithmeticTask``: training on a finite set of arithmetic problems.

The problems come from a TFDS dataset (``dataset.py`` beside this file) and
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

import jax
import jax.numpy as jnp
import numpy as np

from icl import fields
from icl.data import transforms
from icl.data.batch import Batch
from icl.data.vocab import EOS, PAD
from icl.errors import ConfigError, invalid
from icl.tasks.arithmetic import dataset as datasets
from icl.tasks.arithmetic import formats, positions, problems
from icl.tasks.arithmetic import tables as rendering
from icl.tasks.base import Task
from icl.tasks.sequence.layout import mask_weights, token_cross_entropy

PACKINGS = ("example", "stream")
LOSSES = ("answer", "all")
DELIMITERS = ("equal", "paper")


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
  window: int = 256  # tokens per row with packing='stream'
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
  default_evals = ("arithmetic",)
  smoke_fields = {"test_size": 64}  # every test problem is decoded

  @property
  def title(self) -> str:
    return f"{self.op} ({self.format})"

  @property
  def position_ids(self) -> str:
    """Digit ids under the abacus and coupled schemes (what the Abacus
    encoding reads), token positions otherwise."""
    return "tokens" if self.positions == "default" else "digit ids"

  def validate(self) -> None:
    """Every field, then the dataset's size against the problems that
    exist; builds the dataset (once) if it is not on disk."""
    fields.one_of("task.op", self.op, problems.OPS)
    for name in ("digits_a", "digits_b", "test_digits_a", "test_digits_b"):
      v = getattr(self, name)
      if (not isinstance(v, (tuple, list)) or len(v) != 2
          or not all(fields.is_int(x) for x in v) or not 1 <= v[0] <= v[1]):
        raise invalid(f"task.{name}", v, "a (min, max) pair of ints with "
                      "1 <= min <= max: the inclusive range of operand "
                      "digits")
    for name in ("sampling", "test_sampling"):
      fields.one_of(f"task.{name}", getattr(self, name), problems.SAMPLINGS)
      if getattr(self, name) == "carries" and self.op == "*":
        raise invalid(f"task.{name}", getattr(self, name), "'uniform' or "
                      "'lengths' for task.op='*' (carry balancing is "
                      "defined for + and -)")
    try:
      parts = formats.parse_parts(self.format)
    except ValueError as e:
      raise invalid("task.format", self.format,
                    f"a renderable format: {e}") from None
    if parts & set(formats.SCRATCHPADS) and self.op != "+":
      raise invalid("task.format", self.format, f"not a scratchpad for "
                    f"task.op={self.op!r} (Lee et al.'s scratchpads are for "
                    "addition)")
    fields.one_of("task.delimiters", self.delimiters, DELIMITERS)
    fields.one_of("task.positions", self.positions, positions.SCHEMES)
    fields.one_of("task.packing", self.packing, PACKINGS)
    fields.one_of("task.loss_on", self.loss_on, LOSSES)
    clash = parts & ({"scratchpad", "detailed_scratchpad", "random_spaces"}
                     | ({"index_hints"} if self.positions == "abacus"
                        else set()))
    if self.positions != "default" and clash:
      raise invalid("task.positions", self.positions,
                    f"'default' with task.format={self.format!r}: digit ids "
                    f"need digits written as contiguous numbers, which "
                    f"{sorted(clash)} breaks")
    for name in ("max_offset", "num_hints"):
      fields.int_at_least(f"task.{name}", getattr(self, name), 0,
                          "an int >= 0")
    for name in ("window", "num_train", "train_size", "test_size"):
      fields.positive_int(f"task.{name}", getattr(self, name))
    if self.num_train > self.train_size:
      raise invalid("task.num_train", self.num_train, f"at most "
                    f"task.train_size={self.train_size}, the problems in the "
                    "dataset's training split")
    if not fields.is_int(self.data_seed):
      raise invalid("task.data_seed", self.data_seed, "an int")
    if not isinstance(self.data_dir, str):
      raise invalid("task.data_dir", self.data_dir, "a directory path ('' "
                    "for $ICL_DATA_DIR or ~/.cache/icl/datasets)")
    spec = self.dataset_spec
    exist = problems.num_distinct(spec.train)
    if self.train_size > exist:
      raise invalid("task.train_size", self.train_size, f"at most {exist}, "
                    f"the distinct problems with digits_a="
                    f"{tuple(self.digits_a)} and digits_b="
                    f"{tuple(self.digits_b)}")
    if spec.test == spec.train and self.train_size + self.test_size > exist:
      raise invalid("task.test_size", self.test_size,
                    f"at most {exist - self.train_size}: the test split is "
                    f"disjoint from the {self.train_size} training problems, "
                    f"and {exist} exist")
    need = self.widest[2] + self.max_offset
    if self.num_hints and self.num_hints < need:
      raise invalid("task.num_hints", self.num_hints, f"0 (automatic) or at "
                    f"least {need}: the widest answer's digits plus "
                    "task.max_offset")
    try:
      self.dataset  # builds it on first use
    except ValueError as e:
      raise ConfigError(f"task: the dataset cannot be drawn: {e}") from None

  def position_need(self, eval_cfg) -> tuple[int, str]:
    del eval_cfg
    needed = self.max_position_id() + 1
    return needed, (f"largest position id {needed - 1} (task.positions="
                    f"{self.positions!r}, task.max_offset={self.max_offset})")

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
  def tables(self) -> dict[str, rendering.Table]:
    """{'train', 'test'}: the rendered splits (rendered once per dataset and
    format, whatever ``num_train``, which an ensemble traces)."""
    return rendering.rendered_splits(dataclasses.replace(self, num_train=0))

  @property
  def _stream(self) -> dict[str, np.ndarray]:
    """The training split as one stream (without BOS), and where each
    example starts: offsets [train_size + 1]."""
    return rendering.training_stream(dataclasses.replace(self, num_train=0))

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
      batch = transforms.offset_positions(batch, offset_B1)
    if self.hints:
      first = len(self.vocab) - self.hints
      top = len(self.vocab) - 1
      shift = lambda x: jnp.where(x >= first, jnp.minimum(x + offset_B1, top),
                                  x)
      batch = batch.replace(inputs=shift(batch.inputs),
                            targets=shift(batch.targets))
    return batch

  def token_loss(self, logits_BTV: jax.Array, batch: Batch) -> jax.Array:
    return token_cross_entropy(logits_BTV, batch)

  def loss_weights(self, batch: Batch) -> jax.Array:
    return mask_weights(batch)

  def decode_tokens(self, tokens) -> str:
    """Text of a token row (special tokens named, PAD dropped)."""
    vocab = self.vocab
    return "".join(vocab[int(t)] if int(t) > EOS else
                   ("" if int(t) == PAD else f"[{vocab[int(t)]}]")
                   for t in tokens)
