"""Exact match from one teacher-forced pass equals real greedy decoding's,
on a trained model; cached and uncached decoding emit the same tokens."""

import json
import os

import jax
import ml_collections
import numpy as np
import pytest

from icl.configs import sequences
from icl import checkpoint, decoding, models, tasks, train
from icl.evaluators import lengths as evaluate_lengths
from tests.conftest import ONE_DEVICE


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A small copy model trained on lengths 1..6, partly right at 7..10."""
  workdir = str(tmp_path_factory.mktemp("copy"))
  c = sequences.get_config("cpu")
  c.task.update(max_length=6, alphabet=8)
  c.model.update(num_layers=2, d_model=32, num_heads=2, positional="learned",
                 max_len=32)
  c.train.update(steps=400, batch_size=32, log_every=100, eval_every=400,
                 checkpoint_every=400)
  c.eval.update(batch_size=32, max_length=10)
  c.evals = ("lengths", "decoded_lengths")
  results = train.train_and_evaluate(c, workdir, verbose=False,
                                     devices=ONE_DEVICE)
  task = tasks.build(c.task)
  _, params = checkpoint.load_params(workdir)
  return workdir, results, task, models.build(c.model, task), params


def test_token_run_writes_results_table_and_plot(trained):
  workdir, results, _, _, _ = trained
  saved = json.load(open(os.path.join(workdir, "results.json")))
  assert saved["evals"]["lengths"]["lengths"] == list(range(1, 11))
  np.testing.assert_allclose(saved["evals"]["lengths"]["exact_match"],
                             results["lengths"]["exact_match"])
  assert saved["summary"]["lengths/exact_match/seen"] > 0.5  # it did learn
  assert "| 10 |" in open(os.path.join(workdir, "results.md")).read()
  assert os.path.getsize(os.path.join(workdir, "accuracy_vs_length.png")) > 1000


def test_teacher_forced_exact_match_equals_greedy_decoding(trained):
  _, _, task, model, params = trained
  outcomes = []
  for n in (3, 6, 8, 10):  # inside and beyond the training lengths
    batch = task.sample(jax.random.key(n), 32, length=n)
    p, a = task.prompt_length(n) + 2, task.answer_length(n) + 1
    row = np.concatenate([batch.inputs, batch.targets[:, -1:]], axis=1)
    prompt, answer = row[:, :p], row[:, p:p + a]  # answer: with its EOS
    cached = np.asarray(decoding.complete(
        model, params, row[:, :p + a], np.full((32,), p)))[:, p:]
    plain = np.asarray(decoding.greedy_uncached(model, params, prompt, a))
    np.testing.assert_array_equal(cached, plain)
    logits = model.apply({"params": params}, batch.inputs, batch.positions)
    shortcut, _ = evaluate_lengths.answer_correct(logits, batch)
    greedy_right = np.all(cached == np.asarray(answer), axis=1)
    np.testing.assert_array_equal(np.asarray(shortcut), greedy_right)
    outcomes.extend(greedy_right)
  # Both outcomes occur, so the comparison could have failed either way.
  assert 0 < np.mean(outcomes) < 1


def test_decoded_and_teacher_forced_exact_match_agree_side_by_side(trained):
  # The two evaluators score the same examples (one eval stream), so on a
  # model that is right on some lengths and wrong on others they agree.
  workdir, results, _, _, _ = trained
  forced, decoded = results["lengths"], results["decoded_lengths"]
  assert forced["lengths"] == decoded["lengths"]
  np.testing.assert_allclose(decoded["exact_match"], forced["exact_match"])
  assert 0 < np.mean(decoded["exact_match"]) < 1
  assert np.all(np.asarray(decoded["token_accuracy"]) <= 1)
  saved = json.load(open(os.path.join(workdir, "results.json")))
  assert set(saved["evals"]) == {"lengths", "decoded_lengths"}
  table = open(os.path.join(workdir, "results.md")).read()
  assert "lengths:" in table and "decoded_lengths:" in table
  assert os.path.exists(os.path.join(workdir,
                                     "accuracy_vs_length_decoded.png"))


@pytest.mark.parametrize("evaluator", [evaluate_lengths.LengthEvaluator,
                                       evaluate_lengths.DecodedLengthEvaluator])
def test_width_groups_change_no_result(trained, evaluator):
  # Lengths padded in groups score the very same examples as lengths all
  # padded to the longest width: the padding only ever follows the answer.
  _, _, task, model, params = trained
  eval_cfg = ml_collections.ConfigDict(
      {"batch_size": 32, "min_length": 1, "max_length": 10})
  key = jax.random.key(3)
  one_width = type("OneWidth", (evaluator,), {"width_groups": 1})
  grouped = type("Grouped", (evaluator,), {"min_group_lengths": 1})(
      model, task, eval_cfg, key)
  # 10 lengths are too few to group by default.
  assert len(set(evaluator(model, task, eval_cfg, key).widths)) == 1
  # Lengths 1..10 in runs of 3, 3, 2, 2, each padded to its longest.
  assert grouped.widths == [task.sequence_length(n) for n in
                            (3, 3, 3, 6, 6, 6, 8, 8, 10, 10)]
  whole = one_width(model, task, eval_cfg, key)
  assert whole.widths == [task.sequence_length(10)] * 10
  a, b = grouped(params).data, whole(params).data
  assert 0 < np.mean(a["exact_match"]) < 1  # could differ either way
  np.testing.assert_array_equal(a["exact_match"], b["exact_match"])
  np.testing.assert_allclose(a["token_accuracy"], b["token_accuracy"],
                             rtol=0, atol=1e-6)
