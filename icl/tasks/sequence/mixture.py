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
import ml_collections

from icl import fields
from icl.data.batch import Batch
from icl.data.vocab import PAD
from icl.errors import invalid
from icl.tasks.sequence.layout import SequenceTask

# Fields of ``task`` that configure the mixture itself, not its components.
MIXTURE_FIELDS = ("name", "components", "weights", "mix_loss")
# How the components' mean losses combine: "share" (weights normalized
# over the tasks present, so they split one objective) or "sum" (each
# weighted mean added in full: with weight 1, the primary task counts as
# much as in a run on it alone; the equal-data control of a hint).
MIX_LOSSES = ("share", "sum")


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
  mix_loss: str = "share"

  mixable = False

  @classmethod
  def from_config(cls, task_cfg) -> "MixtureTask":
    """Every field of the section other than ``MIXTURE_FIELDS`` goes to
    each component that has it (``num_values`` to all the sorting tasks,
    for example)."""
    from icl import tasks  # the registry, which lists this module
    names = task_cfg.get("components")
    token_tasks = sorted(n for n, c in tasks.REGISTRY.items()
                         if getattr(c, "mixable", False))
    if not isinstance(names, (tuple, list)) or not names:
      raise invalid("task.components", names,
                    f"a non-empty tuple of token task names from "
                    f"{token_tasks}")
    for k, name in enumerate(names):
      if name not in token_tasks:
        raise invalid(f"task.components[{k}]", name, f"one of {token_tasks}")
    known = set(MIXTURE_FIELDS).union(
        *(fields.names(tasks.REGISTRY[n]) for n in names))
    fields.check_known("task", task_cfg, known,
                       f"no component of the mixture {tuple(names)} has "
                       "such a field")
    weights = task_cfg.get("weights")
    if not isinstance(weights, (tuple, list)) or len(weights) != len(names):
      raise invalid("task.weights", weights, f"a tuple of {len(names)} "
                    "numbers, one per task.components entry")
    for k, w in enumerate(weights):
      if not fields.is_number(w) or w < 0:
        raise invalid(f"task.weights[{k}]", w,
                      f"a finite number >= 0 (the weight of {names[k]!r})")
    if weights[0] <= 0:
      raise invalid("task.weights[0]", weights[0], f"> 0: the first "
                    f"component ({names[0]!r}) is the task evaluated")
    mix_loss = task_cfg.get("mix_loss", "share")
    fields.one_of("task.mix_loss", mix_loss, MIX_LOSSES)

    def component(name):
      accepted = fields.names(tasks.REGISTRY[name])
      return tasks.REGISTRY[name](**{
          k: fields.plain(v) for k, v in task_cfg.items()
          if k in accepted and k not in MIXTURE_FIELDS})

    return cls(min_length=task_cfg.min_length,
               max_length=task_cfg.max_length,
               components=tuple(component(n) for n in names),
               names=tuple(names), weights=tuple(float(w) for w in weights),
               mix_loss=mix_loss)

  @classmethod
  def section(cls, name: str = "mixture", *, components=("sort",),
              weights=None, **values):
    """A ``config.task`` section: the mixture's fields, then every field
    of every component at its default, updated with ``values``."""
    from icl import tasks
    s = {"name": name, "components": tuple(components),
         "weights": tuple(weights or (1.0,) * len(components)),
         "mix_loss": "share"}
    for n in components:
      s.update(fields.defaults(tasks.REGISTRY[n]))
    s.update(values)
    return ml_collections.ConfigDict(s)

  def validate(self) -> None:
    super().validate()
    for component in self.components:
      component.validate()

  def validate_eval(self, eval_cfg) -> None:
    # Only the primary task is evaluated beyond the training lengths.
    longest = max(self.max_length, eval_cfg.max_length)
    for k, component in enumerate(self.components):
      component.check_config(longest if k == 0 else self.max_length)
    sizes = {n: c.num_symbols for n, c in zip(self.names, self.components)}
    if len(set(sizes.values())) > 1:
      raise invalid("task.components", self.names,
                    f"tasks with one shared vocabulary (symbols per task: "
                    f"{sizes})")

  @property
  def title(self) -> str:
    return " + ".join(self.names)

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

  def loss_weights(self, batch: Batch) -> jax.Array:
    """Each component's mean over its kept tokens, averaged with the
    mixture weights over the components present in the batch."""
    if "task" not in batch.extras:  # a primary-task batch
      return super().loss_weights(batch)
    one_hot_BK = jax.nn.one_hot(batch.extras["task"], len(self.components))
    count_K = jnp.sum(batch.loss_mask, axis=1) @ one_hot_BK
    weight_K = jnp.asarray(self.weights, jnp.float32) * (count_K > 0)
    if self.mix_loss == "share":
      weight_K = weight_K / jnp.sum(weight_K)
    per_token_K = weight_K / jnp.maximum(count_K, 1.0)
    return batch.loss_mask * (one_hot_BK @ per_token_K)[:, None]
