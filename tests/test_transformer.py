"""The transformer: causality, heads, position ids, axis names, hook names."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.models import Transformer, TransformerConfig, positional
from tests.conftest import init_params
from icl.models.hook_point import cache_names

T = 10


def _vector_model(pe="learned", **kw):
  cfg = TransformerConfig(num_layers=2, d_model=16, num_heads=4,
                          positional=pe, max_len=32, input_dim=5, **kw)
  return Transformer(cfg)


def _positions(b=2, t=T):
  return jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))


@pytest.mark.parametrize("pe", sorted(positional.REGISTRY))
def test_vector_model_is_causal(pe):
  model = _vector_model(pe)
  x = jax.random.normal(jax.random.key(0), (2, T, 5))
  params, _ = init_params(model, jax.random.key(1), x, _positions())
  out = model.apply({"params": params}, x, _positions())
  cut = 6
  x2 = x.at[:, cut:].set(jax.random.normal(jax.random.key(2), (2, T - cut, 5)))
  out2 = model.apply({"params": params}, x2, _positions())
  np.testing.assert_array_equal(out[:, :cut], out2[:, :cut])
  assert not np.allclose(out[:, cut:], out2[:, cut:])


def test_token_model_is_causal_and_has_vocab_logits():
  cfg = TransformerConfig(num_layers=2, d_model=16, num_heads=2,
                          input_kind="tokens", vocab_size=11, head="logits",
                          positional="sinusoidal")
  model = Transformer(cfg)
  tokens = jax.random.randint(jax.random.key(0), (2, T), 0, 11)
  params, _ = init_params(model, jax.random.key(1), tokens, _positions())
  logits = model.apply({"params": params}, tokens, _positions())
  assert logits.shape == (2, T, 11)
  tokens2 = tokens.at[:, -1].set((tokens[:, -1] + 1) % 11)
  logits2 = model.apply({"params": params}, tokens2, _positions())
  np.testing.assert_array_equal(logits[:, :-1], logits2[:, :-1])


@pytest.mark.parametrize("pe, matters", [("learned", True),
                                         ("sinusoidal", True),
                                         ("none", False)])
def test_position_ids_are_an_input(pe, matters):
  model = _vector_model(pe)
  x = jax.random.normal(jax.random.key(0), (2, T, 5))
  params, _ = init_params(model, jax.random.key(1), x, _positions())
  out = model.apply({"params": params}, x, _positions())
  shifted = model.apply({"params": params}, x, _positions() + 7)
  assert (not np.allclose(out, shifted)) == matters


def test_every_parameter_has_logical_axis_names():
  model = _vector_model("learned")
  x = jnp.zeros((1, T, 5))
  params, axes = init_params(model, jax.random.key(0), x, _positions(1))
  flat_params = jax.tree_util.tree_leaves_with_path(params)
  flat_axes = dict(jax.tree_util.tree_leaves_with_path(
      axes, is_leaf=lambda s: isinstance(s, jax.sharding.PartitionSpec)))
  assert len(flat_params) == len(flat_axes)
  allowed = {None, "embed", "heads", "kv", "mlp", "vocab"}
  for path, value in flat_params:
    spec = flat_axes[path]
    assert len(spec) == value.ndim, path
    assert set(spec) <= allowed, (path, spec)
    assert any(name is not None for name in spec), path


def test_sown_intermediates_use_transformer_lens_names():
  model = _vector_model("learned")
  x = jax.random.normal(jax.random.key(0), (2, T, 5))
  params, _ = init_params(model, jax.random.key(1), x, _positions())
  out, state = model.apply({"params": params}, x, _positions(),
                           mutable=["intermediates"])
  cache = cache_names(state["intermediates"])
  for layer in range(2):
    for site, shape in [("hook_resid_pre", (2, T, 16)),
                        ("hook_attn_out", (2, T, 16)),
                        ("hook_mlp_out", (2, T, 16)),
                        ("hook_resid_post", (2, T, 16)),
                        ("attn.hook_pattern", (2, 4, T, T))]:
      assert cache[f"blocks.{layer}.{site}"].shape == shape
  pattern = cache["blocks.0.attn.hook_pattern"]
  np.testing.assert_allclose(pattern.sum(-1), 1.0, rtol=1e-5)
  assert float(jnp.abs(jnp.triu(pattern, 1)).max()) == 0.0
  # The residual stream decomposes into its parts.
  np.testing.assert_allclose(
      cache["blocks.1.hook_resid_post"],
      cache["blocks.1.hook_resid_pre"] + cache["blocks.1.hook_attn_out"]
      + cache["blocks.1.hook_mlp_out"], rtol=1e-5, atol=1e-5)
  # Sowing does not change the output.
  np.testing.assert_array_equal(out, model.apply({"params": params}, x,
                                                 _positions()))


def test_unknown_positional_encoding_is_a_clear_error():
  with pytest.raises(ValueError, match="model.positional must be one of"):
    positional.get("spiral")


def test_bfloat16_compute_keeps_float32_params_and_outputs():
  x = jax.random.normal(jax.random.key(0), (2, T, 5))
  f32 = _vector_model("learned")
  bf16 = _vector_model("learned", dtype=jnp.bfloat16)
  params, _ = init_params(f32, jax.random.key(1), x, _positions())
  out32 = f32.apply({"params": params}, x, _positions())
  out16 = bf16.apply({"params": params}, x, _positions())
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  assert out16.dtype == jnp.float32
  # Same function, computed in bfloat16: close but not identical.
  assert not np.array_equal(out16, out32)
  np.testing.assert_allclose(out16, out32, atol=0.05 * float(
      jnp.abs(out32).max()))


def test_shaped_dense_matches_dense_general_and_works_under_rules():
  import flax.linen as nn
  from icl import sharding
  from icl.models.ops import KERNEL_INITS, ShapedDense
  from tests.conftest import tiny_config
  cfg = TransformerConfig()
  z = jnp.ones((3, 2, 32))
  ours = ShapedDense((64,), 2, ("heads", "kv", "embed"), ("embed",), cfg)
  flax_dense = nn.DenseGeneral(64, axis=(-2, -1),
                               kernel_init=KERNEL_INITS["lecun"])
  p_ours = nn.meta.unbox(ours.init(jax.random.key(1), z)["params"])
  p_flax = flax_dense.init(jax.random.key(1), z)["params"]
  np.testing.assert_array_equal(p_ours["kernel"], p_flax["kernel"])
  assert p_ours["kernel"].shape == (2, 32, 64)
  np.testing.assert_allclose(ours.apply({"params": p_ours}, z),
                             flax_dense.apply({"params": p_flax}, z),
                             atol=1e-5)
  # Under a mesh with logical rules, the kernel's box keeps a valid shape.
  config = tiny_config()
  config.mesh.shape.update(data=1, tensor=8)
  layout = sharding.build_layout(config.mesh)
  with jax.set_mesh(layout.mesh), layout.rule_context():
    out = jax.jit(lambda p, z: ours.apply({"params": p}, z))(p_ours, z)
  np.testing.assert_allclose(out, ours.apply({"params": p_ours}, z),
                             atol=1e-5)


@pytest.mark.parametrize("pe", ["none", "alibi", "rope"])
def test_attention_is_causal_softmax_attention_computed_by_hand(pe):
  # The layout the products run in is a speed choice (icl/models/attention.py);
  # the maths must be the textbook one: softmax(q.k / sqrt(d_k) + bias) over
  # the visible keys, times v, per head, from the hooked (rotated) q, k, v.
  model = _vector_model(pe)
  x = jax.random.normal(jax.random.key(0), (2, T, 5))
  params, _ = init_params(model, jax.random.key(1), x, _positions())
  _, state = model.apply({"params": params}, x, _positions(),
                         mutable=["intermediates"])
  cache = {k: np.asarray(v, np.float64)
           for k, v in cache_names(state["intermediates"]).items()}
  visible = np.tril(np.ones((T, T))) > 0
  for layer in range(2):
    q, k, v = (cache[f"blocks.{layer}.attn.hook_{n}"] for n in "qkv")  # BTHK
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
    if pe == "alibi":  # the only bias among these: read it off the scores
      hooked = cache[f"blocks.{layer}.attn.hook_attn_scores"]
      bias = np.where(visible, hooked - scores, 0.0)
      slopes = -bias[0, :, 1, 0]  # distance 1 from query 1 to key 0
      assert np.all(slopes > 0)
      distance = np.arange(T)[:, None] - np.arange(T)[None, :]
      scores = scores - slopes[None, :, None, None] * distance
    scores = np.where(visible, scores, -np.inf)
    pattern = np.exp(scores - scores.max(-1, keepdims=True))
    pattern /= pattern.sum(-1, keepdims=True)
    np.testing.assert_allclose(cache[f"blocks.{layer}.attn.hook_pattern"],
                               pattern, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cache[f"blocks.{layer}.attn.hook_z"],
                               np.einsum("bhqs,bshk->bqhk", pattern, v),
                               rtol=1e-5, atol=1e-6)
