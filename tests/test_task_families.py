"""A task family is one package plus one line per registry."""

import json
import os

import pytest

from icl.configs import run_config
from icl import evaluators, models, schema, tasks, train
from tests.conftest import ONE_DEVICE
from tests.toy_family import EVALUATORS, TASKS, ConstantTask


@pytest.fixture
def registered(monkeypatch):
  # The only lines a new family adds outside its package: one per registry.
  for name, cls in TASKS.items():
    monkeypatch.setitem(tasks.REGISTRY, name, cls)
  for name, cls in EVALUATORS.items():
    monkeypatch.setitem(evaluators.REGISTRY, name, cls)


def _config():
  c = run_config(ConstantTask.section("constant", value=3.0),
                 evaluators.section(ConstantTask, batch_size=32),
                 model=models.section(num_layers=1, d_model=16, max_len=8))
  c.train.update(steps=60, batch_size=16, log_every=20, eval_every=30,
                 checkpoint_every=60)
  c.optimizer.learning_rate = 1e-2
  return c


def test_a_toy_family_trains_and_reports_through_the_registries(
    registered, tmp_path):
  run = schema.validate(_config())
  assert run.evals == ("constant_error",)
  results = train.train_and_evaluate(run, str(tmp_path), verbose=False,
                                     devices=ONE_DEVICE)
  assert set(results) == {"constant_error"}
  saved = json.load(open(tmp_path / "results.json"))
  assert set(saved["evals"]) == {"constant_error"}
  # Predicting 3.0 from nothing: an untrained model's mse is about 9.
  assert saved["summary"]["constant_error/mse"] < 1.0
  assert "| mse |" in open(tmp_path / "results.md").read()


def test_a_toy_family_validates_its_own_fields(registered):
  c = _config()
  c.task.length = 0
  with pytest.raises(ValueError, match="task.length must be a positive int"):
    schema.validate(c)
  c = _config()
  c.evals = ("lengths",)  # an evaluator that does not apply to it
  with pytest.raises(ValueError, match=r"evals\[0\] must be one of "
                     r"\['constant_error'\]"):
    schema.validate(c)


def test_the_toy_family_lives_only_in_its_own_package():
  here = os.path.join(os.path.dirname(__file__), "toy_family")
  assert sorted(f for f in os.listdir(here) if f.endswith(".py")) == [
      "__init__.py", "evaluator.py", "task.py"]
