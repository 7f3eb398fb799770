"""Row chunks (icl/data/chunks.py): a step computed a few rows at a time
gives the whole-batch loss and gradients, on one device, on a mesh and in
an ensemble, for every task family's loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl import tasks
from icl.configs import arithmetic, sorting
from icl.data import chunks
from icl.experiments import benchmark
from tests.conftest import ONE_DEVICE, tiny_config


def test_rows_per_chunk_picks_the_divisor_nearest_the_token_budget():
  assert chunks.rows_per_chunk(128, 32, 1024) == 32
  assert chunks.rows_per_chunk(256, 32, 1000) == 32
  assert chunks.rows_per_chunk(64, 203, 1024) == 4
  assert chunks.rows_per_chunk(96, 10, 1024) == 96  # fits: one chunk
  assert chunks.rows_per_chunk(128, 32, 0) == 128  # 0: whole batch
  # On a mesh every chunk keeps a whole share of each batch shard.
  assert chunks.rows_per_chunk(128, 512, 1024, shards=8) == 8
  assert chunks.rows_per_chunk(24, 512, 1024, shards=4) == 4


def test_split_is_strided_and_merge_undoes_it():
  x = jnp.arange(12 * 3).reshape(12, 3)
  parts = chunks.split(x, 4)
  assert parts.shape == (3, 4, 3)
  np.testing.assert_array_equal(parts[1], x[1::3])
  np.testing.assert_array_equal(chunks.merge(parts), x)


def test_map_rows_equals_the_whole_batch_forward():
  w = jax.random.normal(jax.random.key(0), (5, 7))
  x = jax.random.normal(jax.random.key(1), (16, 9, 5))
  fn = lambda x_BTF: jnp.tanh(x_BTF @ w).cumsum(axis=1)
  got = jax.jit(lambda x: chunks.map_rows(fn, 18, x))(x)
  np.testing.assert_allclose(got, fn(x), rtol=1e-6, atol=1e-6)


def _params_and_losses(config, chunk_tokens, steps=3, devices=ONE_DEVICE):
  config = config.copy_and_resolve_references()
  config.train.chunk_tokens = chunk_tokens
  _, program = benchmark.build(config, devices)
  state, losses = program.init(), []
  for _ in range(steps):
    state, metrics = program.step(state)
    losses.append(np.asarray(metrics["loss"]))
  return jax.device_get(state.params), np.array(losses)


def _assert_same_run(config, chunk_tokens, devices=ONE_DEVICE):
  whole, whole_losses = _params_and_losses(config, 0, devices=devices)
  parts, part_losses = _params_and_losses(config, chunk_tokens,
                                          devices=devices)
  np.testing.assert_allclose(part_losses, whole_losses, rtol=2e-5)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(whole),
                          jax.tree.leaves(parts)):
    name = jax.tree_util.keystr(path)
    # A key bias's true gradient is zero (the softmax ignores it); Adam
    # blows its rounding noise up to lr-sized steps (see test_sharding).
    if "['key']['bias']" not in name:
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6, err_msg=name)


def _token_config(module, eval_cfg=None, **task):
  c = module.get_config("cpu")
  c.task.update(task)
  c.eval.update(eval_cfg or {})
  c.model.update(num_layers=2, d_model=16, num_heads=2)
  c.train.update(batch_size=16)
  return c


@pytest.mark.parametrize("name, config", [
    # 8 rows of 16 tokens: chunks of 2 rows.
    ("regression", lambda: tiny_config()),
    # The sorting mixture: per-component means weighted across the batch.
    ("sorting mixture", lambda: _token_config(
        sorting, components=("sort", "successor"), weights=(3.0, 1.0),
        max_length=6, num_values=16,
        eval_cfg={"min_length": 1, "max_length": 8})),
    ("arithmetic", lambda: _token_config(arithmetic)),
])
def test_chunked_steps_repeat_the_whole_batch_run(name, config):
  config = config()
  task = tasks.build(config.task)
  rows = config.train.batch_size // 4
  tokens = task.sequence_length() * rows
  assert chunks.rows_per_chunk(config.train.batch_size,
                               task.sequence_length(), tokens) == rows, name
  _assert_same_run(config, tokens)


def test_chunked_steps_repeat_the_whole_batch_run_on_a_mesh():
  # 32 rows over data=2 x fsdp=2 batch shards: chunks of 4 rows, one per
  # shard.
  config = tiny_config(train={"batch_size": 32})
  config.mesh.shape.update(data=2, fsdp=2, tensor=2)
  _assert_same_run(config, 64, devices=None)


def test_chunked_steps_repeat_the_whole_batch_run_in_an_ensemble():
  config = tiny_config()
  config.ensemble.update(num_tasks=(4, -1), seed=(0, 1), pool_seed=(0, 0))
  _assert_same_run(config, 32)


def test_loss_weights_give_the_task_loss():
  # The mixture's loss, written out: each component's mean over its kept
  # tokens, averaged by the weights of the components present.
  task = sorting.get_config("cpu")
  task.task.update(components=("sort", "successor", "fill"),
                   weights=(3.0, 1.0, 0.5), max_length=6, num_values=16)
  task = tasks.build(task.task)
  batch = task.sample(jax.random.key(0), 64)
  logits = jax.random.normal(jax.random.key(1),
                             batch.inputs.shape + (task.vocab_size,))
  nll = np.asarray(task.token_loss(logits, batch) * batch.loss_mask)
  kind = np.asarray(batch.extras["task"])
  mask = np.asarray(batch.loss_mask)
  means = [nll[kind == k].sum() / mask[kind == k].sum() for k in range(3)]
  weights = np.array([3.0, 1.0, 0.5]) * [np.any(kind == k) for k in range(3)]
  want = np.sum(weights * np.nan_to_num(means)) / weights.sum()
  np.testing.assert_allclose(float(task.loss(logits, batch)), want, rtol=1e-5)
