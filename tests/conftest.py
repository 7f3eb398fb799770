"""Shared fixtures: tiny configs that train in seconds on one CPU core."""

import pytest

from configs import regression


def tiny_config(**sections):
  """The cpu preset shrunk to a 2-layer, width-16 model and a few steps.

  ``sections`` maps a section name to a dict of overrides, e.g.
  ``tiny_config(train={"steps": 20})``.
  """
  c = regression.get_config("cpu")
  c.task.update(dim=4, num_points=8, num_tasks=16)
  c.model.update(num_layers=2, d_model=16, num_heads=2)
  c.train.update(steps=20, batch_size=8, log_every=5, eval_every=10,
                 checkpoint_every=10)
  c.eval.batch_size = 32
  for section, overrides in sections.items():
    c[section].update(overrides)
  return c


@pytest.fixture
def tiny():
  return tiny_config
