"""Probes: can a target be read off an activation?

A probe maps activations [N, D] to targets [N, K]. It is fit on a training
split and scored by R^2 on held-out rows. A probe that scores well says
little by itself (a rich enough probe reads almost anything), so each probe
comes with a *control*: the same probe fit to targets whose relation to the
activations is destroyed (shuffled rows, or any targets you pass, such as a
fixed-w control). The evidence is the gap between the two (Hewitt & Liang
2019; Akyürek et al. 2022 compare linear and MLP probes this way).

- ``linear``: ridge regression in closed form (centred, penalty ``lam``
  times the number of rows).
- ``mlp``: one hidden GELU layer trained with Adam, full batch.

Task-specific targets live with their task, e.g. the regression weights in
``icl.tasks.regression.probe_targets``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect

import jax
import jax.numpy as jnp
import optax

_HIGHEST = jax.lax.Precision.HIGHEST


def _r2(pred_NK: jax.Array, y_NK: jax.Array) -> jax.Array:
  ss_res = jnp.sum(jnp.square(y_NK - pred_NK))
  ss_tot = jnp.sum(jnp.square(y_NK - jnp.mean(y_NK, axis=0)))
  return 1.0 - ss_res / jnp.maximum(ss_tot, 1e-30)


def r2(pred_NK: jax.Array, y_NK: jax.Array) -> float:
  """1 - SS_res / SS_tot, pooled over the K outputs (so outputs with more
  variance count more); 1 is perfect, 0 is predicting the mean."""
  return float(_r2(pred_NK, y_NK))


def fit_linear(x_ND: jax.Array, y_NK: jax.Array, key=None,
               lam: float = 1e-4):
  """Ridge probe; returns ``predict(x_ND) -> [N, K]``. (``key`` is unused:
  the fit is closed-form.)"""
  del key
  mx, my = jnp.mean(x_ND, axis=0), jnp.mean(y_NK, axis=0)
  xc, yc = x_ND - mx, y_NK - my
  d = x_ND.shape[1]
  gram = jnp.matmul(xc.T, xc, precision=_HIGHEST)
  scale = jnp.trace(gram) / d  # lam is relative to the mean feature variance
  w_DK = jnp.linalg.solve(gram + lam * scale * jnp.eye(d),
                          jnp.matmul(xc.T, yc, precision=_HIGHEST))
  return lambda x: jnp.matmul(x - mx, w_DK, precision=_HIGHEST) + my


@functools.partial(jax.jit, static_argnames=("hidden", "steps"))
def _train_mlp(key, x_ND, y_NK, hidden: int, steps: int, learning_rate,
               weight_decay):
  d, k = x_ND.shape[1], y_NK.shape[1]
  k1, k2 = jax.random.split(key)
  params = {"w1": jax.random.normal(k1, (d, hidden)) / jnp.sqrt(d),
            "b1": jnp.zeros(hidden),
            "w2": jax.random.normal(k2, (hidden, k)) / jnp.sqrt(hidden),
            "b2": jnp.zeros(k)}
  opt = optax.adamw(learning_rate, weight_decay=weight_decay)

  def loss(p):
    return jnp.mean(jnp.square(_mlp(p, x_ND) - y_NK))

  def step(carry, _):
    p, state = carry
    grads = jax.grad(loss)(p)
    updates, state = opt.update(grads, state, p)
    return (optax.apply_updates(p, updates), state), None

  (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None,
                                length=steps)
  return params


def _mlp(p, x_ND):
  return jax.nn.gelu(x_ND @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def fit_mlp(x_ND: jax.Array, y_NK: jax.Array, key: jax.Array,
            hidden: int = 64, steps: int = 1000, learning_rate: float = 3e-3,
            weight_decay: float = 1e-4):
  """One-hidden-layer MLP probe on standardized inputs and targets."""
  mx, sx = jnp.mean(x_ND, 0), jnp.std(x_ND, 0) + 1e-6
  my, sy = jnp.mean(y_NK, 0), jnp.std(y_NK, 0) + 1e-6
  params = _train_mlp(key, (x_ND - mx) / sx, (y_NK - my) / sy, hidden, steps,
                      learning_rate, weight_decay)
  return lambda x: _mlp(params, (x - mx) / sx) * sy + my


# kind -> fit(x_ND, y_NK, key, **options) -> predict; a new probe is one
# entry here.
FITS = {"linear": fit_linear, "mlp": fit_mlp}
KINDS = tuple(FITS)


@dataclasses.dataclass(frozen=True)
class ProbeResult:
  kind: str
  train_r2: float
  test_r2: float
  control_r2: float  # held-out R^2 of the same probe on the control targets

  @property
  def selectivity(self) -> float:
    return self.test_r2 - self.control_r2


# One program per probe kind, options and shapes: a layer sweep compiles
# once and runs every layer through it. Run op by op, the first linear
# sweep spent about 2 s compiling each primitive on its own.
@functools.partial(jax.jit, static_argnames=("kind", "n_test", "options"))
def _scores(x_ND, y_NK, control_NK, key, *, kind: str, n_test: int,
            options: tuple):
  split_key, control_key, fit_key = jax.random.split(key, 3)
  order = jax.random.permutation(split_key, x_ND.shape[0])
  test, train = order[:n_test], order[n_test:]
  if control_NK is None:
    control_NK = y_NK[jax.random.permutation(control_key, y_NK.shape[0])]
  fit = FITS[kind]
  predict = fit(x_ND[train], y_NK[train], fit_key, **dict(options))
  control_predict = fit(x_ND[train], control_NK[train], fit_key,
                        **dict(options))
  return (_r2(predict(x_ND[train]), y_NK[train]),
          _r2(predict(x_ND[test]), y_NK[test]),
          _r2(control_predict(x_ND[test]), control_NK[test]))


def probe(x_ND, y_NK, *, kind: str = "linear", key=None,
          test_fraction: float = 0.25, control=None,
          **options) -> ProbeResult:
  """Fit a probe from ``x_ND`` to ``y_NK`` on a random split; score held-out
  R^2 for the targets and for the control (default: ``y_NK`` with its rows
  shuffled; or an [N, K] array of control targets). ``options`` go to the
  kind's fit: ``lam`` for ``linear``; ``hidden``, ``steps``,
  ``learning_rate`` and ``weight_decay`` for ``mlp``."""
  if kind not in FITS:
    raise ValueError(f"probe kind must be one of {KINDS}, got {kind!r}")
  accepted = list(inspect.signature(FITS[kind]).parameters)[3:]
  unknown = sorted(set(options) - set(accepted))
  if unknown:
    raise ValueError(f"a {kind} probe takes the options {accepted}, got "
                     f"{unknown}")
  x_ND, y_NK = jnp.asarray(x_ND, jnp.float32), jnp.asarray(y_NK, jnp.float32)
  if y_NK.ndim == 1:
    y_NK = y_NK[:, None]
  n = x_ND.shape[0]
  if y_NK.shape[0] != n:
    raise ValueError(f"activations have {n} rows but targets have "
                     f"{y_NK.shape[0]}")
  if not 0 < test_fraction < 1 or int(n * test_fraction) < 1:
    raise ValueError(f"test_fraction must leave rows on both sides, got "
                     f"{test_fraction} of {n} rows")
  if control is not None:
    control = jnp.asarray(control, jnp.float32).reshape(n, -1)
  key = jax.random.key(0) if key is None else key
  scores = _scores(x_ND, y_NK, control, key, kind=kind,
                   n_test=int(n * test_fraction),
                   options=tuple(sorted(options.items())))
  return ProbeResult(kind, *(float(s) for s in scores))


def layer_sweep(acts_LND, y_NK, **probe_kwargs) -> list[ProbeResult]:
  """One probe per layer of stacked activations [L, N, D] (e.g. the rows of
  ``hooks.stack_layers(cache, 'hook_resid_post')`` at chosen positions)."""
  return [probe(acts_LND[l], y_NK, **probe_kwargs)
          for l in range(acts_LND.shape[0])]
