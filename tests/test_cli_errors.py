"""Bad input through the real command line: one line on stderr naming the
field, the value and what is allowed; rc != 0; no traceback; nothing
created or changed; and nothing compiled."""

import os

import pytest

from tests.conftest import REPO, Launcher

R = "--config=configs/regression.py"
S = "--config=configs/sequences.py"
T = "--config=configs/sorting.py:cpu,successor"

# (arguments after the workdir, text the one stderr line must contain)
CASES = [
    # task (regression)
    ([R, "--config.task.name=regresion"], "task.name must be one of"),
    ([R, "--config.task.num_tasks=0"], "task.num_tasks must be a positive int or -1 (infinite), got 0"),
    ([R, "--config.task.num_tasks=-5"], "task.num_tasks must be a positive int or -1"),
    ([R, "--config.task.dim=0"], "task.dim must be a positive int, got 0"),
    ([R, "--config.task.num_points=-3"], "task.num_points must be a positive int, got -3"),
    ([R, "--config.task.noise_var=-0.1"], "task.noise_var must be a finite number >= 0, got -0.1"),
    ([R, "--config.task.task_var=0"], "task.task_var must be a finite number > 0, got 0"),
    ([R, "--config.task.num_taks=4"], "config.task.num_taks is not a field of configs/regression.py; did you mean config.task.num_tasks?"),
    ([R, "--config.task.dim=abc"], "flag --config.task.dim=abc"),
    # model
    ([R, "--config.model.positional=spiral"], "model.positional must be one of"),
    ([R, "--config.model.num_layers=0"], "model.num_layers must be a positive int, got 0"),
    ([R, "--config.model.d_model=-64"], "model.d_model must be a positive int, got -64"),
    ([R, "--config.model.num_heads=3"], "model.num_heads must be a divisor of model.d_model=64, got 3"),
    ([R, "--config.model.mlp_ratio=0"], "model.mlp_ratio must be a positive int, got 0"),
    ([R, "--config.model.max_len=8"], "model.max_len must be at least 32 for model.positional='learned'"),
    ([R, "--config.model.dtype=float16"], "model.dtype must be one of ['bfloat16', 'float32'], got 'float16'"),
    ([R, "--config.model.kernel_init=xavier"], "model.kernel_init must be one of ['gpt2', 'lecun'], got 'xavier'"),
    ([R, "--config.model.dropout_rate=1.0"], "model.dropout_rate must be a number in [0, 1), got 1.0"),
    ([R, "--config.model.length_temperature=nan"], "model.length_temperature must be a finite number"),
    ([R, "--config.model.randomized_positions=-1"], "model.randomized_positions must be an int >= 0"),
    ([R, "--config.model.randomized_positions_at_eval=True"], "model.randomized_positions_at_eval must be False unless"),
    ([R, "--config.model.positional=abacus"], "model.positional must be used with task.positions='abacus' or 'coupled'"),
    ([R, "--config.model.num_layres=2"], "did you mean config.model.num_layers?"),
    # optimizer
    ([R, "--config.optimizer.name=adagrad"], "optimizer.name must be one of ['adam', 'adamw', 'sgd'], got 'adagrad'"),
    ([R, "--config.optimizer.schedule=linear"], "optimizer.schedule must be one of"),
    ([R, "--config.optimizer.learning_rate=0"], "optimizer.learning_rate must be a finite number > 0, got 0"),
    ([R, "--config.optimizer.warmup_fraction=1.5"], "optimizer.warmup_fraction must be a number in [0, 1], got 1.5"),
    ([R, "--config.optimizer.weight_decay=0.1"], "optimizer.weight_decay must be 0 with optimizer.name='adam'"),
    ([R, "--config.optimizer.b1=1.0"], "optimizer.b1 must be a number in [0, 1), got 1.0"),
    ([R, "--config.optimizer.b2=-0.5"], "optimizer.b2 must be a number in [0, 1), got -0.5"),
    ([R, "--config.optimizer.grad_clip_norm=-1"], "optimizer.grad_clip_norm must be a finite number >= 0"),
    # train
    ([R, "--config.train.steps=0"], "train.steps must be a positive int, got 0"),
    ([R, "--config.train.batch_size=0"], "train.batch_size must be a positive int, got 0"),
    ([R, "--config.train.log_every=-1"], "train.log_every must be a positive int, got -1"),
    ([R, "--config.train.eval_every=0"], "train.eval_every must be a positive int, got 0"),
    ([R, "--config.train.checkpoint_every=0"], "train.checkpoint_every must be a positive int"),
    ([R, "--config.train.keep_checkpoints=0"], "train.keep_checkpoints must be a positive int"),
    ([R, "--config.train.stpes=10"], "did you mean config.train.steps?"),
    ([R, "--config.train.steps=abc"], "flag --config.train.steps=abc"),
    ([R, "--config.train.batch_size=1.5"], "flag --config.train.batch_size=1.5"),
    # eval and evals
    ([R, "--config.eval.batch_size=0"], "eval.batch_size must be a positive int, got 0"),
    ([R, "--config.evals=('lengths',)"], "evals[0] must be one of ['regression']"),
    ([S, "--config.eval.max_length=0"], "eval.max_length must be a positive int, got 0"),
    ([S, "--config.eval.min_length=50"], "eval.max_length must be at least eval.min_length=50"),
    ([S, "--config.evals=('regression',)"], "evals[0] must be one of ['lengths', 'decoded_lengths']"),
    # mesh
    ([R, "--config.mesh.shape.data=0"], "mesh.shape.data must be a positive int or -1"),
    ([R, "--config.mesh.shape.data=3"], "mesh.shape must have axis sizes whose product is the device count"),
    ([R, "--config.mesh.shape.tensor=-1"], "mesh.shape must have at most one axis of size -1"),
    ([R, "--config.mesh.rules.batch=data,data"], "mesh.rules.batch must not repeat a mesh axis"),
    ([R, "--config.mesh.rules.batch=pipe"], "mesh.rules.batch must use axes of mesh.shape"),
    ([R, "--config.mesh.shape.pipeline=2"], "did you mean config.mesh.shape.tensor?"),
    # ensemble
    ([R, "--config.ensemble.num_tasks=(4.5,8)"], "ensemble.num_tasks[0] must be of task.num_tasks's type (int), got 4.5"),
    ([R, "--config.ensemble.num_tasks=abc"], "ensemble.num_tasks[0] must be of task.num_tasks's type (int), got 'abc'"),
    ([R, "--config.ensemble.num_tasks=(4,0)"], "ensemble member 1: task.num_tasks must be a positive int or -1"),
    ([R, "--config.ensemble.num_tasks=(4,8)", "--config.ensemble.seed=(0,1,2)"], "ensemble fields must all have one value per member"),
    # token tasks
    ([S, "--config.task.max_length=0"], "task.max_length must be a positive int, got 0"),
    ([S, "--config.task.alphabet=0"], "task.alphabet must be a positive int, got 0"),
    ([S, "--config.model.positional=learned", "--config.model.max_len=60"], "model.max_len must be at least 82"),
    ([S, "--config.model.randomized_positions=64"], "model.randomized_positions must be 0 or at least 82"),
    ([T, "--config.task.weights=(1.0,-0.5)"], "task.weights[1] must be a finite number >= 0 (the weight of 'successor'), got -0.5"),
    ([T, "--config.task.components=('sort','succesor')"], "task.components[1] must be one of"),
    ([T, "--config.task.num_values=64"], "task.num_values must be at least 100"),
    # presets, choices, config paths
    (["--config=configs/regression.py:bogus"], "configs/regression.py preset must be one of ('cpu', 'paper'), got 'bogus'"),
    (["--config=configs/regression.py:cpu,bogus"], "configs/regression.py takes no choice after the preset, got 'bogus'"),
    (["--config=configs/sequences.py:cpu,bogus"], "configs/sequences.py task must be one of ['copy', 'count'"),
    (["--config=configs/sorting.py:cpu,bogus"], "configs/sorting.py hint must be one of"),
    (["--config=configs/nope.py"], "--config: no such file 'configs/nope.py'"),
    ([R, "--bogus=1"], "Unknown command line flag 'bogus'"),
]
# Workdir cases: (arguments, where the workdir goes, text).
WORKDIRS = [
    ([R, "--workdir="], "workdir must be a non-empty directory path"),
    ([R], "--config is required"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
  base = tmp_path_factory.mktemp("cli")
  existing = base / "existing"  # an existing run's record, to leave alone
  os.makedirs(existing)
  for name, text in (("config.json", '{"keep": "me"}'),
                     ("results.json", '{"step": 7}')):
    (existing / name).write_text(text)
  a_file = base / "a_file"
  a_file.write_text("not a directory")
  cases = [args + [f"--workdir={existing}"] for args, _ in CASES]
  cases.append([R, f"--workdir={a_file}"])
  cases += [[a for a in args if a != R] if "--config is" in text
            else args for args, text in WORKDIRS]
  env = dict(os.environ, ICL_DATA_DIR=str(base / "datasets"))
  launcher = Launcher(env)
  try:
    return base, [launcher.run(["icl.main", *args], cwd=REPO, env=env,
                               timeout=120, refuse_compile=True)
                  for args in cases]
  finally:
    launcher.close()


def test_there_are_sixty_bad_inputs_over_every_section():
  assert len(CASES) + len(WORKDIRS) + 1 >= 60
  fields = " ".join(" ".join(args) for args, _ in CASES)
  for section in ("task", "model", "optimizer", "train", "eval", "mesh",
                  "ensemble"):
    assert f"--config.{section}." in fields, section


@pytest.mark.parametrize("k", range(len(CASES)),
                         ids=[" ".join(a[1:])[:60] or a[0] for a, _ in CASES])
def test_bad_input_gives_one_line_and_changes_nothing(outcomes, k):
  base, results = outcomes
  got = results[k]
  lines = [l for l in got["stderr"].splitlines() if l.strip()]
  assert got["rc"] != 0
  assert len(lines) == 1, got["stderr"][-2000:]
  assert CASES[k][1] in lines[0]
  assert "Traceback" not in got["stderr"] and "COMPILED" not in lines[0]
  existing = base / "existing"
  assert sorted(os.listdir(existing)) == ["config.json", "results.json"]
  assert (existing / "results.json").read_text() == '{"step": 7}'


def test_workdir_errors_are_one_line(outcomes):
  base, results = outcomes
  tail = results[len(CASES):]
  texts = ["workdir must be a directory (this path is a file)"] + [
      t for _, t in WORKDIRS]
  for got, text in zip(tail, texts):
    lines = [l for l in got["stderr"].splitlines() if l.strip()]
    assert got["rc"] != 0 and len(lines) == 1 and text in lines[0], got
  assert (base / "a_file").read_text() == "not a directory"
