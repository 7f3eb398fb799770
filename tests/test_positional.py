"""Positional encodings: the defining property of each, checked on values."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.configs import sequences
from icl import decoding
from icl.models import Transformer, TransformerConfig, positional
from tests.conftest import init_params
from icl.data import transforms as randomized
from icl.models.positional import alibi, kerple, rope, t5, xpos
from icl.models.positional.fire import FirePositionalEncoding
from icl.models.positional.base import softplus_inverse


def _config(pe="none", **kw):
  kw = dict(dict(num_layers=2, d_model=32, num_heads=4, positional=pe,
                 max_len=64, input_kind="tokens", vocab_size=12,
                 head="logits"), **kw)
  return TransformerConfig(**kw)


def _bias(encoding_cls, params, q_pos, k_pos, **kw):
  module = encoding_cls(_config(**kw))
  return module.apply({"params": params}, q_pos, k_pos,
                      method=encoding_cls.bias)


@pytest.mark.parametrize("encoding", [rope.RotaryPositionalEncoding,
                                      xpos.XPosPositionalEncoding])
def test_rotary_logits_depend_only_on_position_differences(encoding):
  q = jax.random.normal(jax.random.key(0), (1, 12, 4, 8))
  k = jax.random.normal(jax.random.key(1), (1, 12, 4, 8))
  module = encoding(_config())

  def logits(positions):
    q_r, k_r = module.apply({}, q, k, positions, method=encoding.rotate)
    return jnp.einsum("bqhk,bshk->bhqs", q_r, k_r)

  base = jnp.arange(12)[None] * 3  # unevenly spread ids work too
  np.testing.assert_allclose(logits(base + 37), logits(base), rtol=2e-4,
                             atol=2e-4)
  # ...and the rotation does depend on positions.
  assert not np.allclose(logits(base * 2), logits(base), atol=1e-2)


def test_alibi_slopes_follow_the_formula_and_bias_is_linear():
  assert alibi.slopes(8) == [2.0 ** (-h) for h in range(1, 9)]
  assert alibi.slopes(4) == [2.0 ** (-2 * h) for h in range(1, 5)]
  # Not a power of two: the slopes for 4 heads, then every other one of 8.
  assert alibi.slopes(6) == alibi.slopes(4) + [2.0 ** -1, 2.0 ** -3]
  pos = jnp.arange(20)[None]
  bias = np.asarray(_bias(alibi.AlibiPositionalEncoding, {}, pos, pos))[0]
  for h, m in enumerate(alibi.slopes(4)):
    i, j = np.tril_indices(20)
    np.testing.assert_allclose(bias[h, i, j], -m * (i - j), rtol=1e-6)


def _t5_bucket_reference(n, num_buckets=32, max_distance=128):
  """The definition, one distance at a time in plain Python."""
  exact = num_buckets // 2
  if n < exact:
    return n
  scaled = math.log(n / exact) / math.log(max_distance / exact)
  return min(num_buckets - 1, exact + int(scaled * (num_buckets - exact)))


def test_t5_buckets_match_the_definition():
  n = np.arange(0, 600)
  got = np.asarray(t5.bucket(jnp.asarray(n)))
  np.testing.assert_array_equal(got, [_t5_bucket_reference(int(d)) for d in n])
  # The bias of head h at (i, j) is the learned table entry of its bucket.
  table = jnp.arange(32 * 4, dtype=jnp.float32).reshape(32, 4)
  pos = jnp.arange(0, 300, 7)[None]
  bias = np.asarray(_bias(t5.T5PositionalEncoding,
                          {"relative_bias": table}, pos, pos))[0]
  i, j = 30, 3
  d = int(pos[0, i] - pos[0, j])
  np.testing.assert_array_equal(bias[:, i, j], table[_t5_bucket_reference(d)])


def test_fire_can_represent_an_alibi_bias():
  """With c small, psi is linear; with L large, the normalizer is constant;
  one ReLU unit then maps the ratio to -m_h * distance."""
  heads, c, big_l = 4, 1e-5, 1e4
  psi_l = math.log1p(c * big_l)
  m = np.asarray(alibi.slopes(heads))
  w_in = np.zeros((1, 32), np.float32)
  w_in[0, 0] = 1.0
  w_out = np.zeros((32, heads), np.float32)
  w_out[0] = -m * psi_l / c
  params = {"c": jnp.float32(softplus_inverse(c)),
            "threshold": jnp.float32(big_l - 1.0),  # softplus(x) = x here
            "mlp_in": {"kernel": w_in, "bias": np.zeros(32, np.float32)},
            "mlp_out": {"kernel": w_out, "bias": np.zeros(heads, np.float32)}}
  pos = jnp.arange(40)[None]
  got = np.asarray(_bias(FirePositionalEncoding, params, pos, pos))
  want = np.asarray(_bias(alibi.AlibiPositionalEncoding, {}, pos, pos))
  causal = np.tril(np.ones((40, 40), bool))
  np.testing.assert_allclose(got[..., causal], want[..., causal], atol=0.01)
  assert np.abs(want[..., causal]).max() > 9  # a real, large bias


def test_kerple_bias_decreases_with_distance_for_any_parameters():
  pos = jnp.arange(200)[None]
  for seed in range(3):
    p, a = jax.random.normal(jax.random.key(seed), (2, 4)) * 2
    bias = np.asarray(_bias(kerple.KerplePositionalEncoding,
                            {"power": p, "scale": a}, pos, pos))
    row = bias[0, :, -1, ::-1]  # the last query, distances 0..199
    assert np.all(np.diff(row, axis=-1) < 0)
    np.testing.assert_allclose(row[:, 0], 0.0)


def test_randomized_positions_are_sorted_unique_and_in_range():
  lengths = jnp.array([30, 5, 1, 17])
  pos = np.asarray(randomized.sorted_subset(jax.random.key(0), lengths, 30,
                                            100))
  for row, n in zip(pos, np.asarray(lengths)):
    real = row[:n]
    assert np.all(np.diff(real) > 0)  # sorted and unique
    assert real.min() >= 0 and real.max() < 100
    assert np.all(row[n:] == 99)  # padding ids
  # Different keys draw different subsets; the ids spread over the range.
  many = np.asarray(randomized.sorted_subset(
      jax.random.key(1), jnp.full((200,), 30), 30, 100))
  assert many.min() == 0 and many.max() == 99
  assert abs(many.mean() - 49.5) < 2


def test_randomized_positions_are_fixed_at_evaluation_by_default():
  c = sequences.get_config()
  assert randomized.from_config(c.model) == (None, None)
  c.model.randomized_positions = 128
  train, evaluation = randomized.from_config(c.model)
  assert train.max_position == 128 and evaluation is None
  c.model.randomized_positions_at_eval = True
  assert randomized.from_config(c.model)[1] == train


def test_nope_has_no_positional_parameters_and_ignores_position_ids():
  tokens = jax.random.randint(jax.random.key(0), (2, 10), 0, 12)
  pos = jnp.broadcast_to(jnp.arange(10), (2, 10))
  counts = {}
  for pe in ("none", "learned"):
    model = Transformer(_config(pe))
    params, _ = init_params(model, jax.random.key(1), tokens, pos)
    counts[pe] = sum(x.size for x in jax.tree.leaves(params))
    if pe == "none":
      assert "positional" not in params
      shuffled = jax.random.permutation(jax.random.key(2), pos, axis=1)
      np.testing.assert_array_equal(
          model.apply({"params": params}, tokens, pos),
          model.apply({"params": params}, tokens, shuffled * 5))
  assert counts["learned"] - counts["none"] == 64 * 32  # the table only


def _perturbed(params, key):
  """Random values everywhere, so zero-initialized tables matter too."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(tree, [
      x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


ALL = sorted(positional.REGISTRY)


def _decoding_model(pe):
  model = Transformer(_config(pe, num_layers=1, d_model=16,
                              length_temperature=0.5))
  tokens = jax.random.randint(jax.random.key(0), (2, 10), 0, 12)
  pos = jnp.broadcast_to(jnp.arange(10) * 2 + 3, (2, 10))  # uneven ids
  params, _ = init_params(model, jax.random.key(1), tokens, pos)
  return model, _perturbed(params, jax.random.key(2)), tokens, pos


@pytest.mark.parametrize("pe", ALL)
def test_cached_decoding_matches_the_full_pass(pe):
  """A prefill plus one-token steps give the logits of one full pass."""
  model, params, tokens, pos = _decoding_model(pe)
  full = model.apply({"params": params}, tokens, pos)
  apply = functools.partial(model.apply, decode=True, mutable=["cache"])
  _, cache = apply({"params": params}, tokens, pos)
  out, cache = apply({"params": params, **cache}, tokens[:, :7], pos[:, :7])
  steps = [out]
  for t in range(7, 10):
    out, cache = apply({"params": params, **cache}, tokens[:, t:t + 1],
                       pos[:, t:t + 1])
    steps.append(out)
  np.testing.assert_allclose(jnp.concatenate(steps, 1), full, atol=1e-4,
                             rtol=1e-4)


@pytest.mark.parametrize("pe", ["rope", "t5", "fire"])  # rotate and bias
def test_greedy_decoding_is_the_same_with_and_without_the_cache(pe):
  model, params, tokens, pos = _decoding_model(pe)
  cached = decoding.complete(model, params, tokens, jnp.full((2,), 4), pos)
  plain = decoding.greedy_uncached(model, params, tokens[:, :4], 6, pos)
  np.testing.assert_array_equal(cached[:, :4], tokens[:, :4])
  np.testing.assert_array_equal(cached[:, 4:], plain)


def test_length_temperature_scales_logits_by_one_plus_beta_log_n():
  from icl.models.temperature import LengthTemperature
  cfg = _config(length_temperature=0.5)
  scale = LengthTemperature(cfg).apply({}, jnp.arange(5))
  np.testing.assert_allclose(scale[0, 0, :, 0], 1 + 0.5 * np.log(np.arange(
      1, 6)), rtol=1e-6)
  learned = LengthTemperature(_config(length_temperature=0.25,
                                      learn_temperature=True))
  variables = nn.meta.unbox(learned.init(jax.random.key(0), jnp.arange(5)))
  np.testing.assert_allclose(variables["params"]["beta"], [0.25] * 4)
  # A model with a learned temperature has one beta per head per layer.
  model = Transformer(_config(learn_temperature=True))
  params, _ = init_params(model, jax.random.key(0), jnp.zeros((1, 4), int),
                          jnp.zeros((1, 4), int))
  assert params["blocks_0"]["attn"]["temperature"]["beta"].shape == (4,)
