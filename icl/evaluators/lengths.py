"""Accuracy per length for token tasks, far beyond the training lengths
(``lengths``, teacher-forced; ``decoded_lengths``, KV-cache decoding).

For every problem length n in [eval.min_length, eval.max_length],
``eval.batch_size`` fresh examples of exactly that length give

- ``exact_match``: the fraction of examples whose whole answer (and its EOS)
  is right;
- ``token_accuracy``: the fraction of answer tokens that are right.

Both come from one teacher-forced forward pass: the answer is right at
position t when the argmax of the logits there is the target. That exact
match equals greedy decoding's. If greedy decoding emits the whole answer
correctly, every prefix it conditions on is the true prefix, so the
teacher-forced argmax at each answer position is the token it emitted, the
right one. Conversely, if the teacher-forced argmax is right at every answer
position, greedy decoding, by induction over positions, sees the true prefix
at each step and emits the same right token. Only the first error can differ
between the two, and both count the example as wrong. (A tie between two
logits would be broken the same way by both, since both use argmax; a cached
decoder's rounding can still differ by a few ulps, which
``tests/test_decoding.py`` checks does not matter on trained models.)

Lengths are padded in up to ``LengthEvaluator.width_groups`` contiguous
groups of at least ``min_group_lengths``, each to the width of its longest
length: one compiled program per group. Padding every length to the
longest wastes about half of each forward pass (and of each decoding loop);
four groups waste about an eighth, for three more compiles of about 0.9 s
each on the 2-core machine. At sorting's lengths 1..100 that made an
evaluation 2.0x faster (8.6 -> 4.3 s) for the same first evaluation; at
the 40 lengths of the sequence tasks, four groups saved 0.3 s per
evaluation for 2.7 s of compiling, so ranges under 50 lengths keep one
width. Smoke runs (``icl.smoke``) keep one width: their evaluations are
toy-sized, so a compile is all a group would cost. Examples are drawn at
the longest length's shapes and then cut, so a group's width never
changes which examples are drawn. Padding follows the real tokens, so the
causal mask hides it.

The examples are the same at every evaluation (length n's are drawn from
the evaluator's key folded with n), so they are drawn once, at the first
call, by a run-once program (``icl/once.py``), and kept on the device:
sorting's 6,400 examples, padded to four widths up to 203 tokens, hold
about 13 MB. The forward pass then compiles without the sampler, which was
most of its compile time (sorting's widest group: 0.54 s of sampler, 0.37
s of forward; the run-once sampler compiles in 0.13 s). Sorting's first
evaluation from a cold start went from 8.0 and 7.8 s to 6.8 and 7.1 s (old
and new code in turn, twice); from the compilation cache it took 0.3 s
longer (4.9 and 4.7 s against 5.2 and 5.2 s), as the run-once sampler
runs slower than a compiled-for-speed one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from icl import decoding, fields, files, once, sharding, smoke
from icl.data import chunks
from icl.errors import invalid
from icl.evaluators.base import DataResult, Evaluator
from icl.metrics import markdown_table


def answer_correct(logits_BTV: jax.Array, batch) -> tuple[jax.Array,
                                                          jax.Array]:
  """Per example: (exact match [B] bool, right answer tokens [B] int)."""
  right_BT = jnp.argmax(logits_BTV, axis=-1) == batch.targets
  answer_BT = batch.loss_mask > 0
  exact_B = jnp.all(right_BT | ~answer_BT, axis=1)
  return exact_B, jnp.sum(right_BT & answer_BT, axis=1)


@once.jit(static_argnums=(0, 1, 2, 3, 4))
def _examples(task, max_n: int, width: int, batch_size: int, positions,
              key, n):
  """``batch_size`` examples of length ``n``, drawn as at ``max_n`` and cut
  to ``width`` tokens (which must hold length ``n``)."""
  batch = task.sample_lengths(key, jnp.full((batch_size,), n, jnp.int32),
                              max_n)
  if positions is not None:
    batch = positions(jax.random.fold_in(key, 1), batch)
  batch = jax.tree.map(lambda x: x[:, :width] if x.ndim > 1 else x, batch)
  return sharding.constrain_batch(batch)


@functools.partial(jax.jit, static_argnums=0)
def _metrics(model, params, batch, key):
  del key  # teacher forcing draws nothing
  logits_BTV = chunks.forward(model, params, batch)
  exact_B, right_B = answer_correct(logits_BTV, batch)
  return sharding.replicate({
      "exact_match": jnp.mean(exact_B.astype(jnp.float32)),
      "token_accuracy": jnp.sum(right_B) / jnp.sum(batch.loss_mask)})


@functools.partial(jax.jit, static_argnums=0)
def _decoded_metrics(model, params, batch, key):
  """As ``_metrics``, with every answer generated from its prompt. The
  prompt ends where the loss mask starts (BOS prompt SEP, whatever the
  task's layout); each generated token is fed the position id its
  reference would have."""
  answer_BT = batch.loss_mask > 0
  tokens_BL = jnp.concatenate([batch.inputs, batch.targets[:, -1:]], axis=1)
  positions_BL = jnp.concatenate([batch.positions,
                                  batch.positions[:, -1:] + 1], axis=1)
  prompt_B = jnp.argmax(answer_BT, axis=1) + 1
  out_BL = decoding.complete(model, params, tokens_BL, prompt_B,
                             positions_BL, key)
  right_BT = (out_BL[:, 1:] == batch.targets) & answer_BT
  exact_B = jnp.all(right_BT | ~answer_BT, axis=1)
  return sharding.replicate({
      "exact_match": jnp.mean(exact_B.astype(jnp.float32)),
      "token_accuracy": jnp.sum(right_BT) / jnp.sum(batch.loss_mask)})


class LengthEvaluator(Evaluator):
  """Teacher-forced exact match and token accuracy at every length in
  [eval.min_length, eval.max_length]."""

  eval_fields = {"batch_size": 64, "min_length": 1, "max_length": 40}
  needs = ("sample_lengths",)
  transforms_positions = True
  metrics = staticmethod(_metrics)
  plot_file = "accuracy_vs_length.png"
  # Padded widths, hence compiled programs (see the module docstring).
  width_groups = 4
  min_group_lengths = 25

  def __init__(self, model, task, eval_cfg, key, positions=None):
    super().__init__(model, task, eval_cfg, key, positions)
    self.lengths = list(range(eval_cfg.min_length, eval_cfg.max_length + 1))
    groups = 1 if smoke.enabled() else min(
        self.width_groups, max(1, len(self.lengths) // self.min_group_lengths))
    self.widths = padded_widths(self.lengths, groups, task.sequence_length)
    self.keys = self.batches = None  # made at the first call

  @classmethod
  def validate(cls, eval_cfg, task) -> None:
    super().validate(eval_cfg, task)
    for name in ("min_length", "max_length"):
      if name not in eval_cfg:
        raise invalid(f"eval.{name}", None,
                      "set for a token task (a positive int)")
      fields.positive_int(f"eval.{name}", eval_cfg[name])
    if eval_cfg.max_length < eval_cfg.min_length:
      raise invalid("eval.max_length", eval_cfg.max_length,
                    f"at least eval.min_length={eval_cfg.min_length}")

  def __call__(self, params) -> "LengthResult":
    # The examples are the same at every evaluation: drawn once, kept on
    # the device. One length in flight at a time: dispatching every length
    # at once aborted the process twice in full suite runs ("Fatal Python
    # error: Aborted" in this loop, no XLA message); like the baselines'
    # deadlock (icl/evaluators/regression.py), it did not reproduce alone.
    if self.batches is None:  # under the run's mesh, like a training batch
      self.keys = [jax.random.fold_in(self.key, n) for n in self.lengths]
      self.batches = [jax.block_until_ready(_examples(
          self.task, self.lengths[-1], width, self.batch_size,
          self.positions, key, jnp.int32(n)))
          for n, width, key in zip(self.lengths, self.widths, self.keys)]
    rows = [jax.device_get(self.metrics(self.model, params, batch, key))
            for batch, key in zip(self.batches, self.keys)]
    return LengthResult({
        "lengths": self.lengths,
        "exact_match": [float(r["exact_match"]) for r in rows],
        "token_accuracy": [float(r["token_accuracy"]) for r in rows],
        "train_range": [self.task.min_length, self.task.max_length]},
        self.plot_file)


class DecodedLengthEvaluator(LengthEvaluator):
  """The same examples as ``lengths``, answered by greedy KV-cache
  decoding (``icl.decoding.complete``) instead of teacher forcing: exact
  match of the generated answer and EOS, and the fraction of generated
  answer tokens that are right. On a trained model the exact match equals
  the teacher-forced one (see the module docstring)."""

  metrics = staticmethod(_decoded_metrics)
  plot_file = "accuracy_vs_length_decoded.png"


def padded_widths(lengths: list[int], groups: int,
                  sequence_length) -> list[int]:
  """Per length, the input width it is padded to: ``lengths`` (ascending)
  cut into ``groups`` contiguous runs of near-equal size, each padded to
  the width of its longest length (``sequence_length(n)`` tokens)."""
  runs = np.array_split(np.arange(len(lengths)), min(groups, len(lengths)))
  widths = []
  for run in runs:
    widths += [sequence_length(lengths[run[-1]])] * len(run)
  return widths


def summarize(results: dict) -> dict[str, float]:
  """Means over the trained lengths and over the longer ones."""
  lo, hi = results["train_range"]
  lengths = np.asarray(results["lengths"])
  groups = {"seen": (lengths >= lo) & (lengths <= hi), "beyond": lengths > hi}
  out = {}
  for metric in ("exact_match", "token_accuracy"):
    values = np.asarray(results[metric])
    for group, chosen in groups.items():
      if chosen.any():
        out[f"{metric}/{group}"] = float(values[chosen].mean())
  return out


def table(results: dict) -> str:
  lo, hi = results["train_range"]
  rows = [[n, em, acc, "yes" if lo <= n <= hi else ""]
          for n, em, acc in zip(results["lengths"], results["exact_match"],
                                results["token_accuracy"])]
  return markdown_table(["length", "exact match", "token accuracy",
                         "trained"], rows)


def brief(results: dict) -> str:
  """The means over the trained lengths and over the longer ones, and the
  longest length: what a run prints when it ends."""
  lo, hi = results["train_range"]
  lengths = results["lengths"]
  means = summarize(results)
  rows = []
  for group, label in (("seen", f"{max(lo, lengths[0])}..{min(hi, lengths[-1])}"
                        " (trained), mean"),
                       ("beyond", f"{max(hi + 1, lengths[0])}.."
                        f"{lengths[-1]}, mean")):
    if f"exact_match/{group}" in means:
      rows.append([label, means[f"exact_match/{group}"],
                   means[f"token_accuracy/{group}"]])
  rows.append([lengths[-1], results["exact_match"][-1],
               results["token_accuracy"][-1]])
  return markdown_table(["length", "exact match", "token accuracy"], rows)


def plot(results_by_label: dict[str, dict], path: str, title: str = ""):
  """Accuracy against length, one line per label, training range shaded."""
  # A bare Figure: no pyplot state, so a notebook's backend is left alone.
  from matplotlib.figure import Figure
  fig = Figure(figsize=(10, 3.6))
  axes = fig.subplots(1, 2, sharey=True)
  for ax, metric in zip(axes, ("exact_match", "token_accuracy")):
    for label, results in results_by_label.items():
      ax.plot(results["lengths"], results[metric], marker=".", label=label)
    lo, hi = next(iter(results_by_label.values()))["train_range"]
    ax.axvspan(lo - 0.5, hi + 0.5, color="0.9", zorder=0,
               label="training lengths")
    ax.set_xlabel("problem length")
    ax.set_title(metric.replace("_", " "))
    ax.set_ylim(-0.02, 1.02)
  axes[0].set_ylabel("accuracy")
  axes[1].legend(fontsize=7, loc="lower left")
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  files.save_figure(fig, path)


class LengthResult(DataResult):
  """``data``: lists over ``lengths`` of ``exact_match`` and
  ``token_accuracy``, and ``train_range`` [min, max] trained."""

  views = (summarize, table, plot)  # in a tuple: never bound as methods

  def __init__(self, data: dict, plot_file: str = "accuracy_vs_length.png"):
    super().__init__(data)
    self.plot_file = plot_file

  def brief(self) -> str:
    return brief(self.data)
