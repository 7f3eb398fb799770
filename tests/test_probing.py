"""The probing toolkit, checked on models whose answers we know."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.models import Transformer, TransformerConfig, positional
from icl import jax_events
from tests.conftest import init_params
from icl.probing import heads, hooks, lens, patching, probes, render, scores

V, T = 11, 8


def _token_model(pe="learned", layers=2, **kw):
  return Transformer(TransformerConfig(
      num_layers=layers, d_model=16, num_heads=2, input_kind="tokens",
      vocab_size=V, head="logits", positional=pe, max_len=32, **kw))


def _tokens(seed, b=3, t=T):
  return jax.random.randint(jax.random.key(seed), (b, t), 0, V)


def _setup(pe="learned", **kw):
  model = _token_model(pe, **kw)
  x = _tokens(0)
  params, _ = init_params(model, jax.random.key(1), x,
                          hooks.default_positions(x))
  return model, params, x


@pytest.mark.parametrize("pe", sorted(positional.REGISTRY))
def test_identity_hooks_on_every_site_reproduce_the_forward_pass_under_jit(pe):
  model, params, x = _setup(pe)
  pos = hooks.default_positions(x) + 1  # abacus ids must be >= 1: no harm
  names = tuple(hooks.site_shapes(model, x))
  assert len(names) == 2 + 2 * 12  # embed, final, 12 sites per block

  @jax.jit
  def hooked(params, x, pos):
    return hooks.run_with_cache(model, params, x, pos,
                                hooks={n: (lambda a: a) for n in names})

  plain = jax.jit(lambda p, x, pos: model.apply({"params": p}, x, pos))
  out, cache = hooked(params, x, pos)
  np.testing.assert_array_equal(out, plain(params, x, pos))
  assert set(cache) == set(names)
  for name, shape in hooks.site_shapes(model, x).items():
    assert cache[name].shape == shape.shape, name


def test_site_shapes_are_the_documented_ones():
  model, params, x = _setup()
  b, d, h, k = x.shape[0], 16, 2, 8
  shapes = {n: s.shape for n, s in hooks.site_shapes(model, x).items()}
  assert shapes["hook_embed"] == (b, T, d)
  assert shapes["blocks.1.attn.hook_pattern"] == (b, h, T, T)
  assert shapes["blocks.1.attn.hook_z"] == (b, T, h, k)
  assert shapes["blocks.0.mlp.hook_post"] == (b, T, 4 * d)
  _, cache = hooks.run_with_cache(model, params, x)
  assert hooks.stack_layers(cache, "hook_attn_out").shape == (2, b, T, d)
  by_head = hooks.stack_heads(cache, "attn.hook_z")
  assert by_head.shape == (2, h, b, T, k)
  np.testing.assert_array_equal(by_head[1, 0],
                                cache["blocks.1.attn.hook_z"][:, :, 0])


def test_unknown_hook_name_lists_the_valid_names():
  model, params, x = _setup()
  with pytest.raises(ValueError, match=r"unknown hook name.*hook_resid_pre"):
    hooks.run_with_hooks(model, params, x, None,
                         {"blocks.0.hook_resid_middle": lambda a: a})
  with pytest.raises(ValueError, match=r"unknown site name.*blocks\.9"):
    hooks.run_with_cache(model, params, x, names=["blocks.9.hook_z"])


def test_a_shape_changing_hook_is_a_clear_error():
  model, params, x = _setup()
  with pytest.raises(ValueError, match=r"blocks\.1\.hook_mlp_out returned "
                     r"shape \(3, 8, 8\).*\(3, 8, 16\)"):
    hooks.run_with_hooks(model, params, x, None,
                         {"blocks.1.hook_mlp_out": lambda a: a[..., :8]})


def test_hooks_change_what_downstream_sees():
  model, params, x = _setup()
  ablated = lambda a: jnp.zeros_like(a)
  out, cache = hooks.run_with_hooks(
      model, params, x, None, {"blocks.1.hook_attn_out": ablated}, cache=True)
  assert float(jnp.abs(cache["blocks.1.hook_attn_out"]).max()) == 0.0
  np.testing.assert_allclose(cache["blocks.1.hook_resid_mid"],
                             cache["blocks.1.hook_resid_pre"], atol=0)
  assert not np.allclose(out, model.apply({"params": params}, x,
                                          hooks.default_positions(x)))


@pytest.mark.parametrize("head_kind", ["logits", "scalar"])
def test_residual_decomposes_and_the_last_lens_entry_is_the_output(head_kind):
  if head_kind == "logits":
    model, params, x = _setup(layers=3)
  else:
    model = Transformer(TransformerConfig(num_layers=3, d_model=16,
                                          num_heads=2, input_dim=5,
                                          max_len=32))
    x = jax.random.normal(jax.random.key(0), (3, T, 5))
    params, _ = init_params(model, jax.random.key(1), x,
                            hooks.default_positions(x))
  out, cache = hooks.run_with_cache(model, params, x)
  labels, parts = lens.components(cache)
  assert labels == ["embed", "attn.0", "mlp.0", "attn.1", "mlp.1", "attn.2",
                    "mlp.2"]
  np.testing.assert_allclose(parts.sum(0), cache["blocks.2.hook_resid_post"],
                             rtol=1e-5, atol=1e-5)
  lens_labels, lens_out = lens.logit_lens(model, params, cache)
  assert lens_labels[-1] == "final" and lens_out.shape[0] == 4
  np.testing.assert_allclose(lens_out[-1], out, rtol=1e-6, atol=1e-6)
  # Earlier entries are different reads, not copies of the output.
  assert not np.allclose(lens_out[0], out, atol=1e-3)
  target = 3 if head_kind == "logits" else None
  direct_labels, direct = lens.direct_attribution(model, params, cache, target)
  assert direct_labels[-1] == "ln_final.bias"
  want = out[..., 3] if head_kind == "logits" else out
  np.testing.assert_allclose(direct.sum(0), want, rtol=1e-4, atol=1e-5)


def test_head_outputs_sum_to_the_attention_output():
  model, params, x = _setup()
  _, cache = hooks.run_with_cache(model, params, x)
  per_head = lens.head_outputs(params, cache, 1)
  bias = params["blocks_1"]["attn"]["out"]["bias"]
  np.testing.assert_allclose(per_head.sum(2) + bias,
                             cache["blocks.1.hook_attn_out"], atol=1e-5)


def _metric(out):
  return scores.logit_difference(out, jnp.array([1, 2, 3]),
                                 jnp.array([4, 5, 6]))


def test_patching_the_whole_first_residual_recovers_the_clean_metric():
  model, params, clean = _setup()
  corrupted = _tokens(7)
  result = patching.patching_sweep(
      model, params, clean, corrupted, ["blocks.0.hook_resid_pre"], _metric,
      over="site")
  assert abs(result.clean - result.corrupted) > 1e-3
  np.testing.assert_allclose(result.scores[0, 0], result.clean, rtol=1e-6)
  np.testing.assert_allclose(result.normalized[0, 0], 1.0, rtol=1e-5)
  noised = patching.patching_sweep(
      model, params, clean, corrupted, ["blocks.0.hook_resid_pre"], _metric,
      over="site", direction="noise")
  np.testing.assert_allclose(noised.scores[0, 0], noised.corrupted,
                             rtol=1e-6)


@pytest.mark.parametrize("over, site", [("position", "hook_resid_pre"),
                                        ("head", "attn.hook_z"),
                                        ("position", "attn.hook_pattern")])
def test_vmapped_patching_sweep_equals_a_loop_of_single_patches(over, site):
  model, params, clean = _setup()
  corrupted = _tokens(7)
  sites = patching.per_layer(2, site)
  result = patching.patching_sweep(model, params, clean, corrupted, sites,
                                   _metric, over=over)
  chunked = patching.patching_sweep(model, params, clean, corrupted, sites,
                                    _metric, over=over, batch_size=3)
  _, clean_cache = hooks.run_with_cache(model, params, clean)
  n = result.scores.shape[1]
  assert n == (T if over == "position" else 2)
  loop = np.zeros_like(result.scores)
  for s, name in enumerate(sites):
    axis = 2 if "pattern" in site else (2 if over == "head" else 1)
    for i in range(n):
      def patch(a, name=name, i=i, axis=axis):
        index = [slice(None)] * a.ndim
        index[axis] = i
        return a.at[tuple(index)].set(clean_cache[name][tuple(index)])
      loop[s, i] = _metric(hooks.run_with_hooks(model, params, corrupted,
                                                None, {name: patch}))
  np.testing.assert_allclose(result.scores, loop, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(chunked.scores, loop, rtol=1e-5, atol=1e-6)
  assert np.ptp(loop) > 1e-4  # the patches do differ


def test_attribution_patching_is_exact_for_a_linear_metric():
  model, params, clean = _setup()
  corrupted = _tokens(7)
  weights_V = jax.random.normal(jax.random.key(3), (V,))
  linear = lambda out: jnp.mean(out @ weights_V)  # linear in hook_final
  exact = patching.patching_sweep(model, params, clean, corrupted,
                                  ["hook_final"], linear)
  estimate = patching.attribution_patching(model, params, clean, corrupted,
                                           ["hook_final"], linear)
  np.testing.assert_allclose(estimate, exact.scores - exact.corrupted,
                             rtol=1e-4, atol=1e-6)
  assert np.abs(estimate).max() > 1e-3
  # On a non-linear site it is only an estimate, with the right shape.
  approx = patching.attribution_patching(
      model, params, clean, corrupted, patching.per_layer(2, "attn.hook_z"),
      _metric, over="head")
  assert approx.shape == (2, 2) and np.all(np.isfinite(approx))


def test_ablations():
  model, params, x = _setup()
  pos = hooks.default_positions(x)
  site = "blocks.0.hook_resid_pre"
  # Resampling the whole first residual is running on other examples.
  resampled = patching.ablate(model, params, x, site, "resample",
                              key=jax.random.key(0))
  _, cache = hooks.run_with_cache(model, params, x)
  moved = patching.ablation_value("resample", cache[site], jax.random.key(0))
  shift = [s for s in range(1, 3) if np.array_equal(
      moved, jnp.roll(cache[site], s, axis=0))]
  assert len(shift) == 1
  np.testing.assert_allclose(
      resampled, model.apply({"params": params},
                             jnp.roll(x, shift[0], axis=0), pos), atol=1e-6)
  # Mean ablation gives every example the same activation there.
  _, mean_cache = hooks.run_with_hooks(
      model, params, x, None,
      {site: patching.replace_hook(patching.ablation_value(
          "mean", cache[site]))}, cache=True)
  np.testing.assert_allclose(mean_cache[site][0], mean_cache[site][2])
  # Zero-ablating head 1 of layer 1 leaves head 0's contribution alone.
  where = patching.head_mask(2, [1])
  _, zero_cache = hooks.run_with_hooks(
      model, params, x, None,
      {"blocks.1.attn.hook_z": patching.replace_hook(0.0, where)}, cache=True)
  z = zero_cache["blocks.1.attn.hook_z"]
  assert float(jnp.abs(z[:, :, 1]).max()) == 0.0
  # Another program than the cached run's: equal to float32 rounding (bit
  # for bit only where XLA happens to fuse both alike, as jax 0.10 does).
  np.testing.assert_allclose(z[:, :, 0], cache["blocks.1.attn.hook_z"][
      :, :, 0], atol=1e-6)
  with pytest.raises(ValueError, match="ablation must be one of"):
    patching.ablate(model, params, x, site, "gaussian")


def test_mse_metric_and_normalized_score():
  assert float(scores.mse(jnp.array([[1.0, 3.0]]), jnp.array([[0.0, 0.0]]),
                          jnp.array([[1, 0]]))) == 1.0
  assert scores.normalized(0.75, clean=1.0, corrupted=0.5) == 0.5


# A two-layer induction circuit built by hand. Residual subspaces: token
# identity A, position P, previous token B. Layer 0 head 0 copies the
# previous token's identity into B; layer 1 head 0 matches the current token
# (A) against keys' previous tokens (B). Every other weight is zero, every
# LayerNorm the identity up to centring and scale (constant across rows).
_N = 6  # tokens per copy
_VOCAB = 8  # 0..6 random tokens, 7 = BOS
_LEN = 1 + 2 * _N
_D, _K = 30, 15  # A: 0..7, P: 8..20, B: 21..28


def _induction_model():
  model = Transformer(TransformerConfig(
      num_layers=2, d_model=_D, num_heads=2, input_kind="tokens",
      vocab_size=_VOCAB, head="logits", positional="learned", max_len=_LEN))
  x = jnp.zeros((1, _LEN), jnp.int32)
  params, _ = init_params(model, jax.random.key(0), x,
                          hooks.default_positions(x))
  params = jax.tree_util.tree_map(jnp.zeros_like, params)
  a, p, bb = 0, _VOCAB, _VOCAB + _LEN
  beta = 20.0

  def set_(tree, path, value):
    node = tree
    for key in path[:-1]:
      node = node[key]
    node[path[-1]] = value

  for layer_norm in ["ln1", "ln2"]:
    for l in range(2):
      set_(params, ["blocks_" + str(l), layer_norm, "scale"], jnp.ones(_D))
  set_(params, ["ln_final", "scale"], jnp.ones(_D))
  set_(params, ["embed", "embedding"],
       jnp.eye(_VOCAB, _D, k=a))
  set_(params, ["positional", "pos_embedding"], jnp.eye(_LEN, _D, k=p))
  q0, k0, v0 = (np.zeros((_D, 2, _K)) for _ in range(3))
  out0 = np.zeros((2, _K, _D))
  for t in range(_LEN):
    q0[p + t, 0, t] = beta  # query at t ...
    if t + 1 < _K:
      k0[p + t, 0, t + 1] = 1.0  # ... meets the key at t - 1
  for v in range(_VOCAB):
    v0[a + v, 0, v] = 1.0
    out0[0, v, bb + v] = 1.0  # writes the token into B
  q1, k1 = np.zeros((_D, 2, _K)), np.zeros((_D, 2, _K))
  v1, out1 = np.zeros((_D, 2, _K)), np.zeros((2, _K, _D))
  for v in range(_VOCAB):
    q1[a + v, 0, v] = beta  # current token ...
    k1[bb + v, 0, v] = 1.0  # ... meets keys whose previous token matches
  for l, (q, k, v, o) in enumerate([(q0, k0, v0, out0), (q1, k1, v1, out1)]):
    attn = params[f"blocks_{l}"]["attn"]
    attn["query"]["kernel"] = jnp.asarray(q, jnp.float32)
    attn["key"]["kernel"] = jnp.asarray(k, jnp.float32)
    attn["value"]["kernel"] = jnp.asarray(v, jnp.float32)
    attn["out"]["kernel"] = jnp.asarray(o, jnp.float32)
  return model, params


def test_induction_detector_finds_the_hand_built_induction_head():
  model, params = _induction_model()
  result = heads.induction_protocol(model, params, jax.random.key(0),
                                    length=_N, batch_size=16, low=0,
                                    high=_VOCAB - 1, prefix=_VOCAB - 1)
  induction, previous = result["induction"], result["previous_token"]
  assert induction[1, 0] > 0.95, induction
  assert previous[0, 0] > 0.95, previous
  others = [induction[l, h] for l in range(2) for h in range(2)
            if (l, h) != (1, 0)]
  assert max(others) < 0.3, induction
  assert previous[1, 0] < 0.3 and previous[1, 1] < 0.3


def test_detectors_score_only_the_rows_where_the_pattern_is_defined():
  tokens = jnp.array([[5, 1, 2, 3, 1, 2, 3]])
  perfect = heads.target_keys("induction", tokens).astype(jnp.float32)
  rows = perfect.sum(-1, keepdims=True)
  pattern = jnp.where(rows > 0, perfect / jnp.maximum(rows, 1),
                      jnp.eye(7)[None])[None, :, None]  # [L, B, H, T, S]
  assert float(heads.head_scores("induction", pattern, tokens)[0, 0]) == 1.0
  # Rows 4..6 are defined; TransformerLens-style all-row averaging gives 3/7.
  assert int((rows[0, :, 0] > 0).sum()) == 3
  diagonal = jnp.eye(7)[None, None, None]
  assert float(heads.head_scores("previous_token", diagonal, tokens)[0, 0]
               ) == 0.0
  shifted = jnp.eye(7, k=-1).at[0, 0].set(1.0)[None, None, None]
  assert float(heads.head_scores("previous_token", shifted, tokens)[0, 0]
               ) == 1.0
  dup = heads.target_keys("duplicate_token", tokens)
  assert bool(dup[0, 4, 1]) and not bool(dup[0, 4, 2])
  with pytest.raises(ValueError, match="detector must be one of"):
    heads.target_keys("copy", tokens)


def test_probe_recovers_a_planted_direction_and_not_its_control():
  key1, key2, key3 = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(key1, (800, 32))
  direction = jax.random.normal(key2, (32, 3))
  y = x @ direction + 0.01 * jax.random.normal(key3, (800, 3))
  linear = probes.probe(x, y)
  assert linear.test_r2 > 0.99 and linear.train_r2 > 0.99
  assert abs(linear.control_r2) < 0.1
  mlp = probes.probe(x, y, kind="mlp", steps=300)
  assert mlp.test_r2 > 0.9 and mlp.control_r2 < 0.2
  sweep = probes.layer_sweep(jnp.stack([jax.random.normal(key3, x.shape), x]),
                             y)
  assert sweep[0].test_r2 < 0.1 < 0.99 < sweep[1].test_r2
  with pytest.raises(ValueError, match="probe kind must be one of"):
    probes.probe(x, y, kind="forest")
  with pytest.raises(ValueError, match=r"a linear probe takes the options "
                     r"\['lam'\], got \['steps'\]"):
    probes.probe(x, y, steps=10)


def test_a_probe_is_one_program_and_a_layer_sweep_reuses_it():
  # Shapes no other test uses, so nothing is lowered before this test.
  layers = jax.random.normal(jax.random.key(5), (3, 96, 7))
  y = jax.random.normal(jax.random.key(6), (96, 2))
  key = jax.random.key(7)
  first_layer = jax.block_until_ready(layers[0])
  with jax_events.collect(jax_events.LOWER) as lowered:
    first = probes.probe(first_layer, y, key=key, lam=1e-3)
  # One program (op by op, it was one per primitive: 64).
  assert len(lowered) == 1
  with jax_events.collect(jax_events.LOWER) as lowered:
    sweep = probes.layer_sweep(layers, y, key=key, lam=1e-3)
  assert len(lowered) <= 1  # the slicing of the stack, if anything
  assert sweep[0] == first
  assert len({r.test_r2 for r in sweep}) == 3


def test_attention_renders_as_png_and_self_contained_html(tmp_path):
  pattern = jax.nn.softmax(jax.random.normal(jax.random.key(0), (2, 2, 5, 5)))
  path = tmp_path / "attn.png"
  fig = render.attention_png(pattern, list("abcde"), str(path))
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert len(fig.axes) == 4 + 1  # heads and the colour bar
  page = render.attention_html(pattern, ["x<y", "b", "c", "d", "e"],
                               title="demo")
  assert "http" not in page and "<script" in page and "src=" not in page
  assert '"x<y"' in page and "layer 1 head 1" in page
  values = np.round(np.asarray(pattern[1, 0, 3]), 4)
  assert str(float(values[0])) in page
  with pytest.raises(ValueError, match="3 token labels for 5 positions"):
    render.attention_html(pattern, ["a", "b", "c"])
