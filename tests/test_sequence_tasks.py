"""Token tasks: layout, answers, masks, padding, and the length evaluator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl import evaluators, tasks
from icl.evaluators import lengths as evaluate_lengths
from icl.models import Transformer, TransformerConfig
from tests.conftest import init_params
from icl.tasks import sequence
from tests.conftest import split_example

SYMBOLS = len(sequence.SPECIAL_TOKENS)  # symbol s is token SYMBOLS + s


def _answer(name, prompt, **kw):
  if name == "copy":
    return prompt
  if name == "reverse":
    return prompt[::-1]
  if name == "parity":
    prefix = np.cumsum(prompt) % 2
    return prefix if kw.get("scratchpad") else prefix[-1:]
  start, end = prompt
  return np.arange(start, end + 1)


CASES = [("copy", {}), ("reverse", {}), ("parity", {}),
         ("parity", {"scratchpad": True}), ("count", {})]


@pytest.mark.parametrize("name,kw", CASES)
def test_examples_hold_the_right_answer_and_masks(name, kw):
  task = tasks.REGISTRY[name](min_length=1, max_length=9, **kw)
  batch = task.sample(jax.random.key(0), 64)
  assert batch.inputs.shape == (64, task.sequence_length())
  lengths = np.asarray(batch.extras["lengths"])
  assert lengths.min() == 1 and lengths.max() == 9  # per-example lengths
  for row in range(64):
    prompt, answer = split_example(task, batch, row)
    assert len(prompt) == task.prompt_length(int(lengths[row]))
    np.testing.assert_array_equal(answer, _answer(name, prompt, **kw))
    assert prompt.min() >= 0 and prompt.max() < task.num_symbols
    # The loss counts the answer and its EOS, nothing else.
    mask = np.asarray(batch.loss_mask[row])
    n = int(lengths[row])
    p, a = task.prompt_length(n), task.answer_length(n)
    assert mask.sum() == a + 1 and mask[p + 1] == 1 and mask[p] == 0
    assert int(batch.extras["num_tokens"][row]) == p + a + 2


def test_count_fills_its_number_range():
  task = sequence.CountTask(min_length=1, max_length=5, max_number=9)
  batch = task.sample(jax.random.key(1), 500)
  symbols = np.asarray(batch.inputs) - SYMBOLS
  assert symbols[(symbols >= 0)].max() == 9


def test_sample_at_a_fixed_length_has_no_padding():
  task = sequence.CopyTask(max_length=5)
  batch = task.sample(jax.random.key(0), 4, length=12)
  assert batch.inputs.shape == (4, 26) and np.all(batch.extras["lengths"] == 12)
  assert not np.any(np.asarray(batch.inputs) == sequence.PAD)


def _model(task, pe="none"):
  return Transformer(TransformerConfig(
      num_layers=1, d_model=16, num_heads=2, positional=pe, max_len=64,
      input_kind="tokens", vocab_size=task.vocab_size, head="logits"))


def test_padding_never_changes_real_tokens_outputs():
  task = sequence.ReverseTask(max_length=6)
  batch = task.sample(jax.random.key(0), 8)
  model = _model(task, "alibi")
  params, _ = init_params(model, jax.random.key(1), batch.inputs,
                          batch.positions)
  real = np.arange(batch.inputs.shape[1])[None] < np.asarray(
      batch.extras["num_tokens"])[:, None]
  garbage = jax.random.randint(jax.random.key(2), batch.inputs.shape, 0,
                               task.vocab_size)
  noisy = jnp.where(real, batch.inputs, garbage)
  a = model.apply({"params": params}, batch.inputs, batch.positions)
  b = model.apply({"params": params}, noisy, batch.positions)
  np.testing.assert_array_equal(np.asarray(a)[real], np.asarray(b)[real])
  # The loss reads only real positions, so it is unchanged too.
  assert task.loss(a, batch) == task.loss(b, batch)


def test_exact_match_and_token_accuracy_on_known_predictions():
  task = sequence.CopyTask(max_length=4)
  batch = task.sample(jax.random.key(0), 3, length=4)
  logits = jax.nn.one_hot(batch.targets, task.vocab_size) * 10
  # Example 1 gets one answer token wrong; example 2 a non-answer token.
  logits = logits.at[1, 6].set(jnp.zeros(task.vocab_size))
  logits = logits.at[2, 0].set(jnp.zeros(task.vocab_size))
  exact, right = evaluate_lengths.answer_correct(logits, batch)
  np.testing.assert_array_equal(exact, [True, False, True])
  np.testing.assert_array_equal(right, [5, 4, 5])  # 4 answer tokens + EOS


def test_length_evaluator_reports_every_length(tmp_path):
  import ml_collections
  task = sequence.CopyTask(min_length=1, max_length=3)
  model = _model(task)
  batch = task.sample(jax.random.key(0), 2)
  params, _ = init_params(model, jax.random.key(1), batch.inputs,
                          batch.positions)
  eval_cfg = ml_collections.ConfigDict(dict(batch_size=8, min_length=1,
                                            max_length=6))
  evaluator = evaluators.build(["lengths"], model, task, eval_cfg,
                               jax.random.key(2))["lengths"]
  results = evaluator(params)
  assert results["lengths"] == [1, 2, 3, 4, 5, 6]
  # The examples are drawn once and kept: a later call reuses them.
  drawn = evaluator.batches
  assert [int(b.extras["lengths"][0]) for b in drawn] == [1, 2, 3, 4, 5, 6]
  assert evaluator(params).data == results.data and all(
      a is b for a, b in zip(evaluator.batches, drawn))
  assert results["train_range"] == [1, 3]
  em, acc = np.asarray(results["exact_match"]), np.asarray(
      results["token_accuracy"])
  assert np.all((0 <= em) & (em <= acc + 1e-6)) and np.all(acc <= 1)
  s = results.summary()
  np.testing.assert_allclose(s["exact_match/seen"], em[:3].mean())
  np.testing.assert_allclose(s["token_accuracy/beyond"], acc[3:].mean())
  table = results.table()
  assert table.count("| yes |") == 3 and "| 6 |" in table
  # What a run prints at its end: the two means and the longest length.
  brief = results.brief().splitlines()
  assert brief[2] == (f"| 1..3 (trained), mean | {em[:3].mean():.4f} | "
                      f"{acc[:3].mean():.4f} |")
  assert brief[3] == f"| 4..6, mean | {em[3:].mean():.4f} | {acc[3:].mean():.4f} |"
  assert brief[4] == f"| 6 | {em[5]:.4f} | {acc[5]:.4f} |" and len(brief) == 5
  beyond_only = dict(results.data, lengths=[5, 6], exact_match=em[4:],
                     token_accuracy=acc[4:])
  assert evaluate_lengths.brief(beyond_only).splitlines()[2].startswith("| 5..6, mean")
  results.plot(str(tmp_path / results.plot_file))
  assert (tmp_path / "accuracy_vs_length.png").stat().st_size > 1000
