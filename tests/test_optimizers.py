"""Learning-rate schedules and optimizer construction."""

import ml_collections
import numpy as np

from icl import optimizers


def _cfg(**kw):
  base = dict(name="adam", learning_rate=1e-3, schedule="triangle",
              warmup_fraction=0.5, weight_decay=0.0, b1=0.9, b2=0.999,
              grad_clip_norm=1.0)
  base.update(kw)
  return ml_collections.ConfigDict(base)


def test_triangle_rises_linearly_then_falls_to_zero():
  lr = optimizers.schedule(_cfg(), total_steps=1000)
  np.testing.assert_allclose([lr(0), lr(250), lr(500), lr(750), lr(1000)],
                             [0.0, 5e-4, 1e-3, 5e-4, 0.0], atol=1e-9)


def test_warmup_cosine_peaks_then_decays_to_zero():
  lr = optimizers.schedule(_cfg(schedule="warmup_cosine",
                                warmup_fraction=0.1), total_steps=1000)
  np.testing.assert_allclose(lr(100), 1e-3, rtol=1e-6)
  np.testing.assert_allclose(lr(550), 5e-4, rtol=1e-3)
  np.testing.assert_allclose(lr(1000), 0.0, atol=1e-9)


def test_constant_holds_after_warmup():
  lr = optimizers.schedule(_cfg(schedule="constant", warmup_fraction=0.1),
                           total_steps=1000)
  np.testing.assert_allclose([lr(50), lr(100), lr(999)], [5e-4, 1e-3, 1e-3],
                             rtol=1e-6)
