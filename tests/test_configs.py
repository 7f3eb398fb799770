"""Config validation: each bad value fails before compiling, naming the field."""

import json
import os

import pytest

from icl.configs import regression
from icl import schema, train
from tests.conftest import config_error, tiny_config

# (section, field, bad value, text the error must contain)
BAD_VALUES = [
    ("task", "name", "regresion", "task.name must be one of"),
    ("task", "num_tasks", 0, "task.num_tasks must be a positive int or -1"),
    ("task", "num_tasks", -5, "task.num_tasks must be a positive int or -1"),
    ("model", "mlp_ratio", 0, "model.mlp_ratio must be a positive int"),
    ("task", "dim", 0, "task.dim must be a positive int"),
    ("task", "num_points", -3, "task.num_points must be a positive int"),
    ("task", "noise_var", -0.1, "task.noise_var must be a finite number >= 0"),
    ("task", "task_var", 0.0, "task.task_var must be a finite number > 0"),
    ("model", "positional", "spiral", "model.positional must be one of"),
    ("model", "num_layers", 0, "model.num_layers must be a positive int"),
    ("model", "d_model", -64, "model.d_model must be a positive int"),
    ("model", "num_heads", 3, "model.num_heads must be a divisor of"),
    ("model", "max_len", 8, "model.max_len must be at least 16 for"),
    ("model", "dtype", "float16", "model.dtype must be one of"),
    ("model", "kernel_init", "xavier", "model.kernel_init must be one of"),
    ("model", "dropout_rate", 1.0, "model.dropout_rate must be a number in"),
    ("optimizer", "name", "adagrad", "optimizer.name must be one of"),
    ("optimizer", "schedule", "linear", "optimizer.schedule must be one of"),
    ("optimizer", "learning_rate", 0.0, "optimizer.learning_rate must be"),
    ("optimizer", "warmup_fraction", 1.5, "optimizer.warmup_fraction"),
    ("optimizer", "weight_decay", 0.1, "weight decay needs 'adamw'"),
    ("train", "steps", 0, "train.steps must be a positive int"),
    ("train", "batch_size", True, "train.batch_size must be a positive int"),
    ("train", "checkpoint_every", -1, "train.checkpoint_every must be"),
    ("eval", "batch_size", 0, "eval.batch_size must be a positive int"),
]


@pytest.mark.parametrize("section, field, value, message", BAD_VALUES,
                         ids=[f"{s}.{f}={v!r}" for s, f, v, _ in BAD_VALUES])
def test_bad_value_is_rejected_with_field_and_value(section, field, value,
                                                    message):
  config = tiny_config()
  config[section][field] = value
  with pytest.raises(ValueError) as err:
    schema.validate(config)
  assert message in str(err.value)
  assert repr(value) in str(err.value) or str(value) in str(err.value)


def test_unknown_task_field_is_rejected():
  config = tiny_config()
  config.task.num_task = 8  # typo of num_tasks
  with pytest.raises(ValueError, match="task.num_task must be absent"):
    schema.validate(config)


def test_missing_workdir_is_rejected():
  for workdir in (None, ""):
    with pytest.raises(ValueError, match="workdir must be a non-empty"):
      train.train_and_evaluate(tiny_config(), workdir)


def test_presets_validate_and_tie_max_len_to_the_context():
  for preset in regression.PRESETS:
    config = regression.get_config(preset)
    schema.validate(config)
    config.task.num_points = 40
    assert config.model.max_len == 80
    schema.validate(config)
  with pytest.raises(ValueError, match="preset must be one of"):
    regression.get_config("gpu")


def test_paper_preset_matches_the_paper():
  c = regression.get_config("paper")
  assert (c.task.dim, c.task.num_points, c.task.noise_var) == (8, 16, 0.25)
  assert (c.model.num_layers, c.model.d_model, c.model.num_heads) == (8, 128, 2)
  assert (c.train.batch_size, c.train.steps) == (256, 500_000)
  assert (c.optimizer.name, c.optimizer.learning_rate) == ("adam", 1e-3)
  assert (c.optimizer.schedule, c.optimizer.warmup_fraction) == ("triangle",
                                                                 0.5)


def test_bad_config_leaves_an_existing_run_untouched(tmp_path):
  workdir = str(tmp_path)
  sentinel = os.path.join(workdir, "config.json")
  with open(sentinel, "w") as f:
    json.dump({"keep": "me"}, f)
  bad = tiny_config()
  bad.model.num_heads = 5
  with pytest.raises(ValueError, match="model.num_heads"):
    train.train_and_evaluate(bad, workdir)
  assert json.load(open(sentinel)) == {"keep": "me"}
  assert sorted(os.listdir(workdir)) == ["config.json"]


# Token tasks: (override path, value, text the error must contain).
SEQUENCE_BAD_VALUES = [
    ("model.positional", "rotary",
     "model.positional must be one of ['abacus', 'alibi'"),
    # A learned table must hold the longest *test* sequence (82 tokens).
    ("model.max_len", 60, "model.max_len must be at least 82 for "
     "model.positional='learned', to hold a position id for the sequence "
     "length 82 (eval.max_length=40), got 60"),
    ("model.randomized_positions", 64, "model.randomized_positions must be 0 "
     "or at least 82, the tokens in the longest sequence "
     "(eval.max_length=40)"),
    ("model.randomized_positions_at_eval", True,
     "model.randomized_positions_at_eval must be False unless"),
    ("task.max_length", 0, "task.max_length must be a positive int"),
    ("eval.max_length", 0, "eval.max_length must be a positive int"),
    ("task.alphabet", 0, "task.alphabet must be a positive int"),
    ("model.length_temperature", float("nan"),
     "model.length_temperature must be a finite number"),
]


@pytest.mark.parametrize("path,value,message", SEQUENCE_BAD_VALUES)
def test_sequence_config_errors_name_the_field(path, value, message):
  from icl.configs import sequences
  c = sequences.get_config("cpu")
  c.model.positional = "learned"
  assert message in config_error(c, path, value)


def test_a_learned_table_must_cover_randomized_positions():
  from icl.configs import sequences
  c = sequences.get_config("cpu")
  c.model.update(positional="learned", randomized_positions=256, max_len=128)
  with pytest.raises(ValueError, match="model.max_len must be at least 256 "
                     "for model.positional='learned', to hold a position id "
                     "for the model.randomized_positions=256"):
    schema.validate(c)
  c.model.max_len = 256
  schema.validate(c)


def test_count_numbers_must_reach_the_longest_test_length():
  from icl.configs import sequences
  c = sequences.get_config("cpu,count")
  c.task.max_number = 30
  with pytest.raises(ValueError, match="task.max_number must be at least 39"):
    schema.validate(c)
