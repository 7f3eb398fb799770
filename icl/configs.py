"""Config validation: every bad value fails here, before anything compiles.

Each check raises ``ConfigError`` (a ``ValueError``) naming the field, the value and what is
allowed, e.g. ``task.num_tasks must be a positive int or -1 (infinite), got 0``.
"""

from __future__ import annotations

import math
from typing import Any

import jax

from icl import ensemble, optimizers, sharding, tasks
from icl.errors import ConfigError, invalid
from icl.models import positional
from icl.models.ops import KERNEL_INITS
from icl.models.transformer import DTYPES

REQUIRED_SECTIONS = ("task", "model", "optimizer", "train", "eval", "mesh")


def _fail(field: str, value: Any, allowed: str):
  raise invalid(field, value, allowed)


def _is_int(v) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
  return (isinstance(v, (int, float)) and not isinstance(v, bool)
          and math.isfinite(v))


def positive_int(cfg, section: str, name: str):
  v = cfg[section][name]
  if not _is_int(v) or v <= 0:
    _fail(f"{section}.{name}", v, "a positive int")


def non_negative_number(cfg, section: str, name: str):
  v = cfg[section][name]
  if not _is_number(v) or v < 0:
    _fail(f"{section}.{name}", v, "a finite number >= 0")


def positive_number(cfg, section: str, name: str):
  v = cfg[section][name]
  if not _is_number(v) or v <= 0:
    _fail(f"{section}.{name}", v, "a finite number > 0")


def one_of(cfg, section: str, name: str, allowed):
  v = cfg[section][name]
  if v not in allowed:
    _fail(f"{section}.{name}", v, f"one of {sorted(allowed)}")


def validate_task(cfg):
  one_of(cfg, "task", "name", tasks.REGISTRY)
  if cfg.task.name == "mixture":
    validate_mixture(cfg)
    known = set(tasks.MIXTURE_FIELDS).union(
        *(tasks.field_names(n) for n in cfg.task.components))
    missing = (f"no component of the mixture {tuple(cfg.task.components)} "
               f"has such a field")
  else:
    known = tasks.field_names(cfg.task.name) | {"name"}
    missing = f"{cfg.task.name!r} has no such field"
  for key in cfg.task:
    if key not in known:
      _fail(f"task.{key}", cfg.task[key],
            f"absent: {missing} (known: {sorted(known)})")
  task_cls = tasks.REGISTRY[cfg.task.name]
  if cfg.task.name == "regression":
    for name in ("dim", "num_points"):
      positive_int(cfg, "task", name)
    non_negative_number(cfg, "task", "noise_var")
    positive_number(cfg, "task", "task_var")
    m = cfg.task.num_tasks
    if not _is_int(m) or (m <= 0 and m != -1):
      _fail("task.num_tasks", m, "a positive int or -1 (infinite)")
    if not _is_int(cfg.task.pool_seed):
      _fail("task.pool_seed", cfg.task.pool_seed, "an int")
  elif issubclass(task_cls, tasks.SequenceTask):
    validate_sequence_task(cfg)
  elif cfg.task.name == "arithmetic":
    validate_arithmetic(cfg)


def _digit_range(cfg, name: str):
  v = cfg.task[name]
  if (not isinstance(v, (tuple, list)) or len(v) != 2
      or not all(_is_int(x) for x in v) or not 1 <= v[0] <= v[1]):
    _fail(f"task.{name}", v, "a (min, max) pair of ints with "
          "1 <= min <= max: the inclusive range of operand digits")


def validate_arithmetic(cfg):
  """Fields of ``task`` (and ``eval``) for arithmetic, then the dataset's
  size against the problems that exist."""
  from icl.tasks.arithmetic import formats, positions, problems
  from icl.tasks.arithmetic import task as arithmetic
  t = cfg.task
  one_of(cfg, "task", "op", problems.OPS)
  for name in ("digits_a", "digits_b", "test_digits_a", "test_digits_b"):
    _digit_range(cfg, name)
  for name in ("sampling", "test_sampling"):
    one_of(cfg, "task", name, problems.SAMPLINGS)
    if t[name] == "carries" and t.op == "*":
      _fail(f"task.{name}", t[name], "'uniform' or 'lengths' for "
            "task.op='*' (carry balancing is defined for + and -)")
  try:
    parts = formats.parse_parts(t.format)
  except ValueError as e:
    _fail("task.format", t.format, f"a renderable format: {e}")
  if parts & set(formats.SCRATCHPADS) and t.op != "+":
    _fail("task.format", t.format, f"not a scratchpad for task.op={t.op!r} "
          "(Lee et al.'s scratchpads are for addition)")
  one_of(cfg, "task", "delimiters", arithmetic.DELIMITERS)
  one_of(cfg, "task", "positions", positions.SCHEMES)
  one_of(cfg, "task", "packing", arithmetic.PACKINGS)
  one_of(cfg, "task", "loss_on", arithmetic.LOSSES)
  clash = parts & ({"scratchpad", "detailed_scratchpad", "random_spaces"}
                   | ({"index_hints"} if t.positions == "abacus" else set()))
  if t.positions != "default" and clash:
    _fail("task.positions", t.positions,
          f"'default' with task.format={t.format!r}: digit ids need digits "
          f"written as contiguous numbers, which {sorted(clash)} breaks")
  for name in ("max_offset", "num_hints"):
    if not _is_int(t[name]) or t[name] < 0:
      _fail(f"task.{name}", t[name], "an int >= 0")
  for name in ("window", "num_train", "train_size", "test_size"):
    positive_int(cfg, "task", name)
  if t.num_train > t.train_size:
    _fail("task.num_train", t.num_train, f"at most task.train_size="
          f"{t.train_size}, the problems in the dataset's training split")
  if not _is_int(t.data_seed):
    _fail("task.data_seed", t.data_seed, "an int")
  if not isinstance(t.data_dir, str):
    _fail("task.data_dir", t.data_dir, "a directory path ('' for "
          "$ICL_DATA_DIR or ~/.cache/icl/datasets)")
  task = tasks.build(t)
  spec = task.dataset_spec
  exist = problems.num_distinct(spec.train)
  if t.train_size > exist:
    _fail("task.train_size", t.train_size,
          f"at most {exist}, the distinct problems with digits_a="
          f"{tuple(t.digits_a)} and digits_b={tuple(t.digits_b)}")
  if spec.test == spec.train and t.train_size + t.test_size > exist:
    _fail("task.test_size", t.test_size,
          f"at most {exist - t.train_size}: the test split is disjoint from "
          f"the {t.train_size} training problems, and {exist} exist")
  if t.num_hints and t.num_hints < task.widest[2] + t.max_offset:
    _fail("task.num_hints", t.num_hints,
          f"0 (automatic) or at least {task.widest[2] + t.max_offset}: the "
          "widest answer's digits plus task.max_offset")
  positive_int(cfg, "eval", "batch_size")
  non_negative_number(cfg, "eval", "temperature")
  try:
    task.dataset  # builds it on first use
  except ValueError as e:
    raise ConfigError(f"task: the dataset cannot be drawn: {e}") from None


def validate_mixture(cfg):
  names = cfg.task.get("components")
  token_tasks = sorted(n for n, c in tasks.REGISTRY.items()
                       if issubclass(c, tasks.SequenceTask) and n != "mixture")
  if not isinstance(names, (tuple, list)) or not names:
    _fail("task.components", names,
          f"a non-empty tuple of token task names from {token_tasks}")
  for k, name in enumerate(names):
    if name not in token_tasks:
      _fail(f"task.components[{k}]", name, f"one of {token_tasks}")
  weights = cfg.task.get("weights")
  if not isinstance(weights, (tuple, list)) or len(weights) != len(names):
    _fail("task.weights", weights,
          f"a tuple of {len(names)} numbers, one per task.components entry")
  for k, w in enumerate(weights):
    if not _is_number(w) or w < 0:
      _fail(f"task.weights[{k}]", w,
            f"a finite number >= 0 (the weight of {names[k]!r})")
  if weights[0] <= 0:
    _fail("task.weights[0]", weights[0],
          f"> 0: the first component ({names[0]!r}) is the task evaluated")


def validate_sequence_task(cfg):
  for name in ("min_length", "max_length"):
    positive_int(cfg, "task", name)
  if cfg.task.max_length < cfg.task.min_length:
    _fail("task.max_length", cfg.task.max_length,
          f"at least task.min_length={cfg.task.min_length}")
  for name in ("batch_size", "min_length", "max_length"):
    if name not in cfg.eval:
      _fail(f"eval.{name}", None, "set for a token task (a positive int)")
    positive_int(cfg, "eval", name)
  if cfg.eval.max_length < cfg.eval.min_length:
    _fail("eval.max_length", cfg.eval.max_length,
          f"at least eval.min_length={cfg.eval.min_length}")
  task = tasks.build(cfg.task)
  longest = max(cfg.task.max_length, cfg.eval.max_length)
  if not isinstance(task, tasks.MixtureTask):
    task.check_config(longest)
    return
  # Only the primary task is evaluated beyond the training lengths.
  for k, component in enumerate(task.components):
    component.check_config(longest if k == 0 else cfg.task.max_length)
  sizes = {n: c.num_symbols for n, c in zip(task.names, task.components)}
  if len(set(sizes.values())) > 1:
    _fail("task.components", tuple(task.names),
          f"tasks with one shared vocabulary (symbols per task: {sizes})")


def validate_model(cfg, task):
  for name in ("num_layers", "d_model", "num_heads", "mlp_ratio", "max_len"):
    positive_int(cfg, "model", name)
  if cfg.model.d_model % cfg.model.num_heads:
    _fail("model.num_heads", cfg.model.num_heads,
          f"a divisor of model.d_model={cfg.model.d_model}")
  one_of(cfg, "model", "positional", positional.REGISTRY)
  one_of(cfg, "model", "dtype", DTYPES)
  one_of(cfg, "model", "kernel_init", KERNEL_INITS)
  rate = cfg.model.dropout_rate
  if not _is_number(rate) or not 0 <= rate < 1:
    _fail("model.dropout_rate", rate, "a number in [0, 1)")
  validate_positions(cfg, task)


def _longest_sequence(cfg, task) -> tuple[int, str]:
  """Tokens in the longest sequence the model will see, and why."""
  if isinstance(task, tasks.SequenceTask) and (
      cfg.eval.max_length > task.max_length):
    return (task.sequence_length(cfg.eval.max_length),
            f"eval.max_length={cfg.eval.max_length}")
  return task.sequence_length(), "training"


def validate_positions(cfg, task):
  """Temperature, randomized positions, and position-table coverage."""
  model = cfg.model
  if not _is_number(model.get("length_temperature", 0.0)):
    _fail("model.length_temperature", model.length_temperature,
          "a finite number (0 disables the length temperature)")
  for flag in ("learn_temperature", "randomized_positions_at_eval"):
    if not isinstance(model.get(flag, False), bool):
      _fail(f"model.{flag}", model[flag], "True or False")
  longest, source = _longest_sequence(cfg, task)
  randomized = model.get("randomized_positions", 0)
  if not _is_int(randomized) or randomized < 0:
    _fail("model.randomized_positions", randomized,
          "an int >= 0 (L_max; 0 disables randomized positions)")
  if randomized and randomized < longest:
    _fail("model.randomized_positions", randomized,
          f"0 or at least {longest}, the tokens in the longest sequence "
          f"({source}): position ids are drawn without repeats from "
          f"[0, L_max)")
  if model.get("randomized_positions_at_eval") and not randomized:
    _fail("model.randomized_positions_at_eval", True,
          "False unless model.randomized_positions is set")
  if (model.get("randomized_positions_at_eval")
      and not isinstance(task, tasks.SequenceTask)):
    _fail("model.randomized_positions_at_eval", True,
          f"False for task {cfg.task.name!r} (its evaluator uses ordered "
          "positions)")
  limit = positional.get(model.positional).max_positions(model)
  needed, why = ((randomized, f"model.randomized_positions={randomized}")
                 if randomized else (longest, f"sequence length {longest} "
                                     f"({source})"))
  if isinstance(task, tasks.ArithmeticTask) and not randomized:
    needed = task.max_position_id() + 1
    why = (f"largest position id {needed - 1} (task.positions="
           f"{task.positions!r}, task.max_offset={task.max_offset})")
  uses_digit_ids = model.positional == "abacus"
  if uses_digit_ids and getattr(task, "positions", "default") == "default":
    _fail("model.positional", model.positional,
          "used with task.positions='abacus' or 'coupled' (the encoding "
          "reads digit ids), or another encoding")
  if limit is not None and needed > limit:
    raise ConfigError(
        f"model.max_len must be at least {needed} for "
        f"model.positional={model.positional!r}, to hold a position id for "
        f"the {why}, got {limit}; raise model.max_len or use an encoding "
        f"without a table")


def validate_optimizer(cfg):
  one_of(cfg, "optimizer", "name", optimizers.OPTIMIZERS)
  one_of(cfg, "optimizer", "schedule", optimizers.SCHEDULES)
  positive_number(cfg, "optimizer", "learning_rate")
  frac = cfg.optimizer.warmup_fraction
  if not _is_number(frac) or not 0 <= frac <= 1:
    _fail("optimizer.warmup_fraction", frac, "a number in [0, 1]")
  non_negative_number(cfg, "optimizer", "weight_decay")
  if cfg.optimizer.weight_decay and cfg.optimizer.name != "adamw":
    _fail("optimizer.weight_decay", cfg.optimizer.weight_decay,
          f"0 with optimizer.name={cfg.optimizer.name!r} (weight decay needs "
          "'adamw')")
  for name in ("b1", "b2"):
    v = cfg.optimizer[name]
    if not _is_number(v) or not 0 <= v < 1:
      _fail(f"optimizer.{name}", v, "a number in [0, 1)")
  non_negative_number(cfg, "optimizer", "grad_clip_norm")


def validate_train(cfg):
  for name in ("steps", "batch_size", "log_every", "eval_every",
               "checkpoint_every", "keep_checkpoints"):
    positive_int(cfg, "train", name)
  positive_int(cfg, "eval", "batch_size")


def validate_mesh(cfg, num_devices: int):
  sizes = sharding.axis_sizes(dict(cfg.mesh.shape), num_devices)
  sharding.parse_rules(dict(cfg.mesh.rules), tuple(sizes))


def validate_ensemble(cfg, task):
  size = ensemble.validate(cfg, task)
  for k, member in enumerate(ensemble.member_configs(cfg)):
    if not _is_int(member.seed):
      _fail(f"ensemble.seed[{k}]", member.seed, "an int")
    try:
      validate_task(member)
    except ConfigError as e:
      raise ConfigError(f"ensemble member {k}: {e} (from the ensemble "
                        f"section)") from None
  return size


def validate(cfg, num_devices: int | None = None) -> tasks.Task:
  """Checks the whole config; returns the task it describes.

  ``num_devices`` (default: all of them) is what the mesh must fill.
  """
  for section in REQUIRED_SECTIONS:
    if section not in cfg:
      _fail(section, None, "a config section")
  if not _is_int(cfg.get("seed")):
    _fail("seed", cfg.get("seed"), "an int")
  validate_task(cfg)
  task = tasks.build(cfg.task)
  validate_model(cfg, task)
  validate_optimizer(cfg)
  validate_train(cfg)
  validate_ensemble(cfg, task)
  validate_mesh(cfg, jax.device_count() if num_devices is None
                else num_devices)
  return task


def validate_workdir(workdir) -> None:
  if not workdir or not isinstance(workdir, str):
    _fail("workdir", workdir, "a non-empty directory path (--workdir=DIR)")
