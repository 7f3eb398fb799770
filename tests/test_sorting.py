"""Sorting, its hint tasks, task mixtures, the temperature, and the probe."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.configs import sorting as sorting_config
from icl import schema, tasks
from icl.models import Transformer, TransformerConfig
from tests.conftest import init_params
from icl.models.hook_point import cache_names
from icl.tasks.sorting import successor
from icl.tasks import sorting
from tests.conftest import config_error, split_example



def _split_lists(task, batch, row):
  return tuple(list(part) for part in split_example(task, batch, row))
HINT_TASKS = ("sort", "successor", "predecessor", "count_smaller",
              "parity_smaller", "fill")


def _reference(name, prompt, num_values):
  """The answer by plain Python, from the prompt's symbols."""
  none, fill = num_values, num_values + 1
  if name == "sort":
    return sorted(prompt)
  if name == "fill":
    return [fill] * len(prompt)
  xs, marker, q = list(prompt[:-2]), prompt[-2], prompt[-1]
  assert marker == num_values + 2 and q in xs
  larger = [x for x in xs if x > q]
  smaller = [x for x in xs if x < q]
  return [{"successor": min(larger) if larger else none,
           "predecessor": max(smaller) if smaller else none,
           "count_smaller": len(smaller),
           "parity_smaller": len(smaller) % 2}[name]]


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("name", HINT_TASKS)
def test_every_task_matches_a_plain_python_reference(name, repeats):
  # 8 values make repeats common, and NONE answers frequent.
  task = tasks.REGISTRY[name](min_length=1, max_length=8, num_values=8,
                             repeats=repeats)
  batch = task.sample(jax.random.key(1), 256)
  lengths = np.asarray(batch.extras["lengths"])
  assert lengths.min() == 1 and lengths.max() == 8
  answers = []
  for row in range(256):
    prompt, answer = _split_lists(task, batch, row)
    values = prompt if name in ("sort", "fill") else prompt[:-2]
    assert len(values) == lengths[row]
    assert all(0 <= v < 8 for v in values)
    if not repeats:
      assert len(set(values)) == len(values)
    assert answer == _reference(name, prompt, 8), (prompt, answer)
    answers.extend(answer)
  if name in ("successor", "predecessor"):  # both outcomes occur
    assert 8 in answers and any(a < 8 for a in answers)
  if repeats:
    assert any(len(set(_split_lists(task, batch, r)[0])) < lengths[r]
               for r in range(256))


def test_long_sorting_examples_have_distinct_sorted_values():
  task = sorting.SortTask(min_length=1, max_length=20, num_values=128)
  batch = task.sample(jax.random.key(0), 8, length=100)
  for row in range(8):
    prompt, answer = _split_lists(task, batch, row)
    assert len(set(prompt)) == 100 and answer == sorted(prompt)


def _mixture(weights, names=("sort", "successor", "fill")):
  cfg = sorting_config.get_config("cpu")
  cfg.task.update(components=names, weights=weights, max_length=6,
                  num_values=16)
  return tasks.build(cfg.task)


def test_mixture_draws_tasks_in_proportion_and_prefixes_them():
  task = _mixture((3.0, 1.0, 0.0))
  batch = task.sample(jax.random.key(0), 8192)
  kind = np.asarray(batch.extras["task"])
  share = np.bincount(kind, minlength=3) / kind.size
  # 4 standard errors of a binomial share of 0.75 at n = 8192 is 0.019.
  assert abs(share[0] - 0.75) < 0.02 and abs(share[1] - 0.25) < 0.02
  assert share[2] == 0  # weight 0: never drawn
  row = int(np.flatnonzero(kind == 1)[0])
  text = task.decode_tokens(batch.inputs[row])
  assert text.startswith("BOS <successor> ") and " QUERY " in text
  # The token after BOS names the task, and each answer is that task's.
  np.testing.assert_array_equal(np.asarray(batch.inputs[:, 1]),
                                [task.task_token(k) for k in kind])
  answer_tokens = np.asarray(batch.loss_mask).sum(axis=1) - 1
  lengths = np.asarray(batch.extras["lengths"])
  np.testing.assert_array_equal(answer_tokens[kind == 0], lengths[kind == 0])
  assert np.all(answer_tokens[kind == 1] == 1)


def test_mixture_examples_are_their_components_examples():
  task = _mixture((1.0, 1.0, 1.0))
  batch = task.sample(jax.random.key(3), 64)
  for row in range(64):
    k = int(batch.extras["task"][row])
    n = int(batch.extras["lengths"][row])
    prefixed = task.prefixed[k]
    prompt, answer = _split_lists(prefixed, batch, row)
    assert prompt[0] == task.shared_symbols + k
    assert answer == _reference(task.names[k], prompt[1:], 16)
    assert len(answer) == task.components[k].answer_length(n)


def test_mixture_evaluation_batches_hold_the_primary_task_only():
  task = _mixture((1.0, 1.0, 1.0))
  batch = task.sample_lengths(jax.random.key(0), jnp.full((16,), 12), 12)
  assert np.all(np.asarray(batch.inputs[:, 1]) == task.task_token(0))
  for row in range(16):
    prompt, answer = _split_lists(task, batch, row)
    assert answer == sorted(prompt[1:]) and len(answer) == 12


def test_mixture_loss_weighs_each_tasks_mean_token_loss():
  task = _mixture((3.0, 1.0, 0.0))
  batch = task.sample(jax.random.key(0), 64)
  logits = jax.random.normal(jax.random.key(1),
                             batch.inputs.shape + (task.vocab_size,))
  logp = np.asarray(jax.nn.log_softmax(logits))
  targets, mask = np.asarray(batch.targets), np.asarray(batch.loss_mask)
  nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0] * mask
  kind = np.asarray(batch.extras["task"])
  mean = [nll[kind == k].sum() / mask[kind == k].sum() for k in (0, 1)]
  expected = (3 * mean[0] + 1 * mean[1]) / 4
  np.testing.assert_allclose(task.loss(logits, batch), expected, rtol=1e-5)
  # Not the plain token mean, which the long sort answers would dominate.
  assert abs(expected - nll.sum() / mask.sum()) > 1e-3
  # "sum": each weighted mean in full, so sort counts as in a sort-only run.
  summed = dataclasses.replace(task, mix_loss="sum")
  np.testing.assert_allclose(summed.loss(logits, batch),
                             3 * mean[0] + 1 * mean[1], rtol=1e-5)


BAD = [
    ("task.weights", (1.0, -0.5), "task.weights[1] must be a finite number "
     ">= 0 (the weight of 'successor'), got -0.5"),
    ("task.weights", (0.0, 1.0), "task.weights[0] must be > 0: the first "
     "component ('sort') is the task evaluated"),
    ("task.weights", (1.0,), "task.weights must be a tuple of 2 numbers"),
    ("task.mix_loss", "mean", "task.mix_loss must be one of ['share', "
     "'sum'], got 'mean'"),
    ("task.components", ("sort", "succesor"), "task.components[1] must be "
     "one of"),
    ("task.components", ("sort", "copy"), "task.components must be tasks "
     "with one shared vocabulary"),
    ("task.num_values", 64, "task.num_values must be at least 100, the "
     "longest sequence (task.max_length or eval.max_length), when "
     "task.repeats=False"),
    ("task.alphabet", 16, "task.alphabet must be absent: no component of "
     "the mixture ('sort', 'successor') has such a field"),
    # BOS, the task token, 100 values, SEP and 100 sorted values.
    ("model.max_len", 128, "model.max_len must be at least 203 for "
     "model.positional='learned', to hold a position id for the sequence "
     "length 203 (eval.max_length=100), got 128"),
]


@pytest.mark.parametrize("path,value,message", BAD)
def test_bad_sorting_configs_name_the_field(path, value, message):
  c = sorting_config.get_config("cpu,successor")
  c.model.positional = "learned"
  assert message in config_error(c, path, value)


def test_count_hint_needs_values_for_every_count():
  c = sorting_config.get_config("cpu,count")
  c.task.update(repeats=True, num_values=10)  # repeats: 100 > 10 is fine
  with pytest.raises(ValueError, match="task.num_values must be at least "
                     "task.max_length=20 for the count_smaller task"):
    schema.validate(c)
  c.task.num_values = 20
  schema.validate(c)


def _scores(beta, learn=False, beta_by_head=None):
  cfg = TransformerConfig(vocab_size=12, num_layers=1, d_model=16,
                          num_heads=2, max_len=16, positional="none",
                          length_temperature=beta, learn_temperature=learn,
                          input_kind="tokens", head="logits")
  model = Transformer(cfg)
  tokens = jax.random.randint(jax.random.key(0), (2, 9), 0, 12)
  positions = jnp.broadcast_to(jnp.arange(9), (2, 9))
  params, _ = init_params(model, jax.random.key(1), tokens, positions)
  if beta_by_head is not None:
    params["blocks_0"]["attn"]["temperature"]["beta"] = jnp.asarray(
        beta_by_head)
  return model, params, tokens, positions


def _attention_scores(model, params, tokens, positions):
  _, state = model.apply({"params": params}, tokens, positions,
                         mutable=["intermediates"])
  return np.asarray(cache_names(state["intermediates"])[
      "blocks.0.attn.hook_attn_scores"])


def test_length_temperature_multiplies_attention_logits_by_query_length():
  model0, params, tokens, positions = _scores(0.0)
  plain = _attention_scores(model0, params, tokens, positions)
  model, _, _, _ = _scores(0.5)  # a fixed beta adds no parameters
  scaled = _attention_scores(model, params, tokens, positions)
  visible = np.tril(np.ones((9, 9), bool))
  factor = 1 + 0.5 * np.log(np.arange(1, 10))[:, None]  # query i sees i+1
  np.testing.assert_allclose(np.where(visible, scaled, 0),
                             np.where(visible, plain * factor, 0), rtol=1e-5)
  assert not np.allclose(np.where(visible, scaled, 0),
                         np.where(visible, plain, 0))
  # Learned: one beta per head; head 0 at 0 leaves its logits unchanged.
  learned, params_l, _, _ = _scores(0.0, learn=True, beta_by_head=[0.0, 1.0])
  both = _attention_scores(learned, params_l, tokens, positions)
  np.testing.assert_allclose(np.where(visible, both[:, 0], 0),
                             np.where(visible, plain[:, 0], 0), rtol=1e-5)
  np.testing.assert_allclose(
      np.where(visible, both[:, 1], 0),
      np.where(visible, plain[:, 1] * (1 + np.log(np.arange(1, 10)))[:, None],
               0), rtol=1e-5)


def test_successor_hits_count_peaks_on_the_next_element_to_emit():
  task = sorting.SortTask(min_length=1, max_length=6, num_values=32)
  n = 6
  batch = task.sample(jax.random.key(0), 4, length=n)
  p, a = task.prompt_length(n), task.answer_length(n)
  t = batch.inputs.shape[1]
  inputs = np.asarray(batch.inputs)
  targets = np.asarray(batch.targets)
  # Head 0 peaks on the successor's prompt position; head 1 on BOS.
  pattern = np.zeros((1, 4, 2, t, t), np.float32)
  pattern[..., 0] = 0.5
  for b in range(4):
    for q in range(t):
      where = np.flatnonzero(inputs[b, 1:p + 1] == targets[b, q])
      pattern[0, b, 0, q, (where[0] + 1) if where.size else 0] = 1.0
  hits = successor.successor_hits(jnp.asarray(pattern), batch, p, a)
  np.testing.assert_allclose(hits, [[1.0, 0.0]])
  # A pattern peaking one position off the successor scores 0 there.
  shifted = np.roll(pattern, 1, axis=-1)
  shifted[..., 0] = 0.0
  assert float(successor.successor_hits(jnp.asarray(shifted), batch, p,
                                        a)[0, 0]) == 0.0


def test_probe_runs_on_a_model_and_reports_every_head():
  cfg = sorting_config.get_config("cpu,successor")
  cfg.task.update(max_length=6, num_values=16)
  cfg.eval.max_length = 8
  task = schema.validate(cfg).task
  from icl import models
  cfg.model.update(num_layers=2, d_model=16, num_heads=2)
  model = models.build(cfg.model, task)
  tokens = jnp.zeros((1, task.sequence_length()), jnp.int32)
  params, _ = init_params(model, jax.random.key(0), tokens, tokens)
  probe = successor.successor_attention(model, params, task, (4, 8),
                                        jax.random.key(1), batch_size=8)
  hits = np.asarray(probe["hits"])
  assert hits.shape == (2, 2, 2) and np.all((hits >= 0) & (hits <= 1))
  assert "best head" in successor.table(probe)
