"""The Task interface: data, loss, its config schema and declared facts.

A task turns ``(key, batch_size, length)`` into a ``Batch`` with a pure,
jit-able ``sample``. Training calls it inside the compiled step with
``fold_in(data_key, step)``, so the batch at step t depends only on
``(seed, t)``: runs are reproducible and resumable with no input pipeline.

A task is a frozen dataclass whose fields are its config section
(``config.task``): their defaults are written there and nowhere else.
Generic code never asks what type a task is. What it needs to know, a task
declares: what the model reads and emits, which fields an ensemble may
vary, its default evaluators, and the longest sequence and position id an
evaluation config makes it produce.
"""

from __future__ import annotations

import abc
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from icl import fields
from icl.data.batch import Batch


class Task(abc.ABC):
  """A data generator plus the loss that goes with it.

  Subclasses are frozen dataclasses (hashable: jit closes over them).
  """

  # What the model must accept and produce; read by the model builder.
  input_kind: str  # "vector" or "tokens"
  head: str  # "scalar", "gaussian" (mean, variance) or "logits"
  # Fields an ensemble may vary per member; ``sample`` must accept traced
  # values for them.
  ensemble_fields: tuple[str, ...] = ()
  # Evaluators (``icl/evaluators``) run when ``config.evals`` is empty.
  default_evals: tuple[str, ...] = ()
  # What the batch's position ids count: "tokens" (0, 1, 2, ...) or
  # another scheme an encoding may require (``PositionalEncoding.reads``).
  position_ids: str = "tokens"
  # Field values for smoke mode (``icl/smoke.py``) beyond its toy model and
  # steps: whatever keeps this task's evaluation tiny.
  smoke_fields: dict = {}

  # -- config ---------------------------------------------------------------

  @classmethod
  def from_config(cls, task_cfg) -> "Task":
    """The task of a ``config.task`` section (``name`` plus fields)."""
    return fields.build(cls, task_cfg, "task",
                        f"{task_cfg.name!r}", skip=("name",))

  @classmethod
  def section(cls, name: str, **values):
    """A ``config.task`` section: ``name`` and every field's default,
    updated with ``values``."""
    s = fields.section(cls, **values)
    s.name = name
    return s

  def validate(self) -> None:
    """Raises ConfigError for a field with a bad value."""

  def validate_eval(self, eval_cfg) -> None:
    """Raises ConfigError if the task cannot serve this evaluation (its
    ``eval`` section has been validated by the evaluators)."""
    del eval_cfg

  # -- declared facts -------------------------------------------------------

  @property
  def title(self) -> str:
    """What the task is, for plot titles and reports."""
    return type(self).__name__.removesuffix("Task").lower()

  @property
  def input_dim(self) -> int:
    return 0

  @property
  def vocab_size(self) -> int:
    return 0

  def longest_sequence(self, eval_cfg) -> tuple[int, str]:
    """Tokens in the longest sequence training or ``eval_cfg`` feeds the
    model, and why (for error messages)."""
    del eval_cfg
    return self.sequence_length(), "training"

  def at_step(self, step) -> "Task":
    """The task as training sees it at ``step`` (a traced int): itself,
    unless it has a curriculum. A pure function of the step, so a resumed
    run repeats an uninterrupted one; evaluation uses the task as
    configured."""
    del step
    return self

  def split_members(self, keep: tuple[str, ...] = ()
                    ) -> tuple["Task", dict[str, np.int32]]:
    """``(shared, values)``: this task with its ensemble fields (those in
    ``keep`` aside) set to 0, and their values as int32 scalars.

    A jitted function that takes ``shared`` as a static argument and
    ``values`` as traced ones, and rebuilds the task inside with
    ``shared.with_values(values)``, compiles once for all the members of
    an ensemble, which differ only in those values. ``keep`` names fields
    that fix a shape (the dMMSE pool's size M) and so stay static."""
    names = [n for n in self.ensemble_fields if n not in keep]
    shared = dataclasses.replace(self, **{n: 0 for n in names})
    return shared, {n: np.int32(getattr(self, n)) for n in names}

  def with_values(self, values: dict) -> "Task":
    """This task with ``values`` (traced or not) for some of its fields."""
    return dataclasses.replace(self, **values) if values else self

  def position_need(self, eval_cfg) -> tuple[int, str]:
    """Position ids the model must represent (largest id + 1), and why."""
    n, why = self.longest_sequence(eval_cfg)
    return n, f"sequence length {n} ({why})"

  # -- data and loss --------------------------------------------------------

  @abc.abstractmethod
  def sequence_length(self, length: int | None = None) -> int:
    """Tokens in one sequence for a problem of the given length."""

  @abc.abstractmethod
  def sample(self, key: jax.Array, batch_size: int,
             length: int | None = None) -> Batch:
    """A batch from the training distribution; pure and jit-able."""

  def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
    """Scalar training loss from model outputs. By default the weighted
    sum of ``token_loss`` by ``loss_weights``; a task may override this
    alone, and its steps then run on the whole batch at once."""
    return jnp.sum(self.token_loss(outputs, batch) * self.loss_weights(batch))

  def loss_weights(self, batch: Batch) -> jax.Array | None:
    """[B, T] weights, computed on the whole batch, such that ``loss`` is
    the sum of ``token_loss`` times them; or None for a loss that does not
    split that way. With weights, a training step sums the loss and its
    gradient over row chunks (``icl/data/chunks.py``) and gets the
    whole-batch values."""
    del batch
    return None

  def token_loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
    """[B, T] loss of every token, each row from its own outputs only."""
    raise NotImplementedError(
        f"{type(self).__name__} defines neither loss nor token_loss")
