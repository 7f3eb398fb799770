"""Experiment scripts: their arms, checks and numerics. Each documented
command also runs end to end in smoke mode (tests/test_readme.py), and the
``check_*`` functions here say what its outputs must hold."""

import json
import os
import re

import numpy as np
import pytest

from icl.experiments import benchmark
from icl import schema
from icl.errors import ConfigError
from tests.conftest import ONE_DEVICE


def test_task_diversity_arms_differ_only_in_m_and_train_as_one_ensemble():
  from icl import sweep as sweep_lib
  from icl.experiments.task_diversity import sweep
  s = sweep.get_sweep("cpu")
  assert list(s.arms) == ["M=4", "M=16", "M=64", "M=256", "M=1024",
                          "M=32768", "M=inf"]
  a, b = s.arms["M=4"].to_dict(), s.arms["M=inf"].to_dict()
  assert a["task"].pop("num_tasks") == 4 and b["task"].pop("num_tasks") == -1
  assert a == b
  (group,) = sweep_lib.plan(s)
  assert len(group.cells) == 7 * len(s.seeds)
  # Each seed draws its own pool of M tasks as well.
  assert tuple(group.config.ensemble.pool_seed) == tuple(
      group.config.ensemble.seed)


def test_the_task_diversity_threshold_is_where_more_m_stops_helping():
  from icl import sweep as sweep_lib
  from icl.experiments.task_diversity import report
  deltas = {"M=4": [0.9, 0.8], "M=64": [0.30, 0.26], "M=1024": [0.05, 0.04],
            "M=32768": [0.046, 0.044], "M=inf": [0.045, 0.043]}
  cells = {arm: {seed: {"summary": {"regression": {"true/delta/ridge": v}}}
                 for seed, v in enumerate(values)}
           for arm, values in deltas.items()}
  outcome = sweep_lib.Outcome(None, cells, {}, {})
  before, star, final, margin = report.threshold(outcome)
  # 2 std of (0.045, 0.043) is 0.0028 < 10% of 0.044: the margin is 0.0044.
  assert (before, star) == ("M=64", "M=1024")
  assert final == pytest.approx(0.044) and margin == pytest.approx(0.0044)


def test_model_flops_count_matches_a_hand_count():
  from icl.configs import regression
  config = regression.get_config("cpu")
  task, program = benchmark.build(config, ONE_DEVICE)
  state = program.abstract_state
  d, f, layers, t, b = 64, 256, 4, 32, 128
  per_layer = 4 * d * d + 2 * d * f  # q, k, v, out; fc_in, fc_out
  kernels = layers * per_layer + 9 * d + d  # + read-in (D+1 -> d), read-out
  expected = 6 * kernels * b * t + 12 * layers * t * t * d * b
  assert benchmark.step_flops(config, task, state.params) == expected


SWEEPS = ("positional_encodings", "sorting_hints",
          "arithmetic_sample_efficiency", "arithmetic_length_generalization",
          "task_diversity", "function_classes")


@pytest.mark.parametrize("name", SWEEPS)
def test_every_arm_of_every_preset_validates(name):
  from icl.experiments import run
  for preset in ("cpu", "paper"):
    if preset == "paper" and name.startswith("arithmetic"):
      continue  # their datasets (up to 200k problems) are built to validate
    sweep, _ = run.load(f"{name}:{preset}")
    assert len(sweep.seeds) >= 3, "every claim needs three seeds"
    for arm, config in sweep.arms.items():
      schema.validate(config)


def test_an_unknown_arm_or_variant_is_named():
  from icl.experiments.positional_encodings import sweep as pe
  from icl.experiments.sorting_hints import sweep as sh
  with pytest.raises(ConfigError, match="arm 'copy.shuffled': the encoding"):
    pe.arm_config("cpu", "copy.shuffled")
  with pytest.raises(ConfigError, match="unknown variant 'hot'"):
    sh.arm_config("cpu", "successor_hot")
  with pytest.raises(ConfigError, match="the hint must be one of"):
    sh.arm_config("cpu", "succesor")
  from icl.experiments.function_classes import sweep as fc
  with pytest.raises(ConfigError, match="arm 'linear_lrfast': the learning "
                     "rate after '_lr' must be a number, got 'fast'"):
    fc.arm_config("cpu", "linear_lrfast")
  with pytest.raises(ConfigError, match="arm 'linear_k1': '_k' sets the "
                     "nonzeros of sparse_linear"):
    fc.arm_config("cpu", "linear_k1")
  with pytest.raises(ConfigError, match="arm 'Linear' must be a function "
                     "class"):
    fc.arm_config("cpu", "Linear")
  with pytest.raises(ConfigError, match=r"task.sparsity must be an int in "
                     r"\[1, task.dim=5\], got 9"):
    schema.validate(fc.arm_config("cpu", "sparse_linear_k9"))


def test_reach_stops_at_the_first_length_below_the_level():
  from icl.experiments.positional_encodings import report as pe_report
  lengths = [1, 2, 3, 4, 5]
  # A later length back above the level does not extend the reach.
  assert pe_report.reach(lengths, [1.0, 0.5, 0.49, 0.9, 1.0]) == 2
  assert pe_report.reach(lengths, [1.0] * 5) == 5
  assert pe_report.reach(lengths, [0.2, 1.0, 1.0, 1.0, 1.0]) == 0
  assert pe_report.reach([3, 4], [0.9, 0.1], level=0.95) == 0


def test_arm_configs_set_what_their_names_say():
  from icl.experiments.arithmetic_length_generalization import sweep as lg
  from icl.experiments.positional_encodings import sweep as pe
  from icl.experiments.sorting_hints import sweep as sh
  rope = pe.arm_config("cpu", "reverse.rope")
  assert rope.model.positional == "rope" and rope.task.name == "reverse"
  none, double = sh.arm_config("cpu", "none"), sh.arm_config("cpu",
                                                             "successor_2x")
  assert tuple(none.task.components) == ("sort",)
  # The control: twice the batch, each task's mean loss in full, so sorting
  # gets the examples and the loss weight it gets alone.
  assert tuple(double.task.components) == ("sort", "successor")
  assert double.train.batch_size == 2 * none.train.batch_size
  assert double.task.mix_loss == "sum"
  assert sh.arm_config("cpu", "none_rep").task.repeats is True
  assert sh.arm_config("cpu", "none_learned").model.positional == "learned"
  assert sh.arm_config("cpu", "successor_temp").model.learn_temperature
  zhou = lg.arm_config("cpu", "zhou2024")
  assert zhou.model.positional == "fire"
  assert zhou.model.randomized_positions == lg.RANDOMIZED_MAX
  assert zhou.task.format == "reverse_all+index_hints"
  from icl.experiments.function_classes import sweep as fc
  toy, fast = (fc.arm_config("cpu", "sparse_linear"),
               fc.arm_config("cpu", "sparse_linear_lr1e-3"))
  assert (toy.optimizer.learning_rate, fast.optimizer.learning_rate) == (
      1e-4, 1e-3)
  # Only the rate differs, so the two arms get the same compute.
  toy.optimizer.learning_rate = 1e-3
  assert toy.to_dict() == fast.to_dict() and fast.task.sparsity == 2
  # One nonzero, and nothing else, where the default keeps two.
  one = fc.arm_config("cpu", "sparse_linear_k1_lr1e-3")
  assert one.task.sparsity == 1
  one.task.sparsity = 2
  assert one.to_dict() == fast.to_dict()
  abacus = lg.arm_config("cpu", "abacus")
  # Trained on 1..k digits, tested on 1..2k: offset ids reach the answer
  # width of 2k-digit sums.
  k = abacus.task.digits_a[1]
  assert abacus.task.positions == "abacus"
  assert (k + 1) + abacus.task.max_offset >= 2 * k + 1


def test_both_sample_efficiency_protocols_train_on_equal_tokens_per_step():
  from icl.experiments.arithmetic_sample_efficiency import sweep as se
  s = se.get_sweep("cpu")
  for fmt in se.FORMATS:
    clean = schema.validate(s.arms[f"clean.{fmt}.N=1000"])
    lee = schema.validate(s.arms[f"lee.{fmt}.N=1000"])
    tokens = [r.config.train.batch_size * r.task.sequence_length()
              for r in (clean, lee)]
    assert tokens[0] == tokens[1], fmt
    assert lee.task.window > clean.task.sequence_length()  # longer windows
  # The N arms of one protocol and format train as one ensemble.
  from icl import sweep as sweep_lib
  groups = sweep_lib.plan(s)
  assert len(groups) == len(se.FORMATS) * len(se.PROTOCOLS)
  assert all(len(g.cells) == len(se.SIZES) * len(s.seeds) for g in groups)


# What each experiment's documented command must write (run by
# tests/test_readme.py in smoke mode: the first two arms, 2 steps).

def _check_sweep(workdir, arms, path, plots, chance="| chance |",
                 rows=None):
  """What every sweep's smoke run writes: results.json with its first two
  arms and seeds, statistics over the seeds that agree with the seeds'
  own numbers, each cell's run directory and evaluation history, and a
  report with a row for every arm (or each of ``rows``), the chance row
  and the plots."""
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert list(results["arms"]) == arms and results["seeds"] == [0, 1]
  assert results["total"]["cpu_seconds"] > 0
  for arm in arms:
    cells = results["arms"][arm]["seeds"]
    values = []
    for seed in ("0", "1"):
      value = cells[seed]["summary"]
      for key in path:
        value = value[key]
      values.append(value)
      config = json.load(open(os.path.join(workdir, cells[seed]["run_dir"],
                                           "config.json")))
      assert config["seed"] == int(seed)
      assert cells[seed]["history"][-1]["step"] == 2
    stats = results["arms"][arm]["stats"]
    for key in path:
      stats = stats[key]
    assert stats["n"] == 2 and stats["max"] == max(values)
    assert stats["mean"] == pytest.approx(np.mean(values))
  report = open(os.path.join(workdir, "report.md")).read()
  assert chance in report and "(mean ± std)" in report
  assert all(f"| {row} |" in report for row in rows or arms)
  for plot in plots:
    assert os.path.getsize(os.path.join(workdir, plot)) > 10_000
  return results, report


def check_task_diversity(workdir, stdout, argv):
  results, report = _check_sweep(
      workdir, ["M=4", "M=16"], ["regression", "true/delta/dmmse"],
      ["task_diversity.png"], chance="| predict 0 |")
  # The seeds' task pools differ too.
  member = results["arms"]["M=16"]["seeds"]["1"]["run_dir"]
  config = json.load(open(os.path.join(workdir, member, "config.json")))
  assert config["task"]["num_tasks"] == 16 and config["task"]["pool_seed"] == 1


def check_positional_encodings(workdir, stdout, argv):
  results, report = _check_sweep(
      workdir, ["copy.none", "copy.t5"],
      ["lengths", "exact_match/beyond"], ["positional_encodings.png"],
      rows=["none", "t5"])
  assert "0.99 |" in report  # the paper's number beside ours
  assert "steps to EM 0.99" in report
  assert "reach: longest n, EM >= 0.5 up to n" in report


def check_sorting_hints(workdir, stdout, argv):
  results, report = _check_sweep(
      workdir, ["none", "successor"], ["lengths", "exact_match/beyond"],
      ["accuracy_vs_length.png"])
  hits = np.asarray(results["arms"]["none"]["seeds"]["0"]["analysis"]["hits"])
  assert hits.shape[1:] == (1, 2)  # lengths x layers x heads
  assert "1 layers, width 16" in report  # the report says what ran
  assert "< 0.01" in report  # the paper's number beside ours


def check_arithmetic_sample_efficiency(workdir, stdout, argv):
  results, report = _check_sweep(
      workdir, ["lee.plain.N=1000", "lee.plain.N=2000"],
      ["arithmetic", "exact_match"], ["accuracy_vs_examples.png"],
      rows=["N=1000", "N=2000"])
  cell = results["arms"]["lee.plain.N=2000"]["seeds"]["1"]
  member = json.load(open(os.path.join(workdir, cell["run_dir"],
                                       "config.json")))
  assert member["task"]["num_train"] == 2000 and member["seed"] == 1
  assert "packing=stream, loss on all, delimiters=paper" in report
  assert cell["results"]["arithmetic"]["dataset"]["sha256"] in report


def check_arithmetic_length_generalization(workdir, stdout, argv):
  results, report = _check_sweep(
      workdir, ["plain_absolute", "reverse_hints"],
      ["arithmetic", "exact_match"],
      ["accuracy_grid.png", "accuracy_vs_digits.png"], chance="<= 1e-",
      rows=["seen (<= 5)", "beyond 5"])  # one column pair per arm
  for arm in results["arms"].values():
    r = arm["seeds"]["0"]["results"]["arithmetic"]
    assert sum(map(sum, r["grid"]["count"])) == r["dataset"]["test_size"]
  assert re.search(r"\| seen \(<= \d+\) \|", report)


def check_function_classes(workdir, stdout, argv):
  from icl import smoke
  from icl.experiments.function_classes import report as fc_report
  from icl.experiments.function_classes import sweep as fc
  chosen = [a.split("=", 1)[1].split(",") for a in argv
            if a.startswith("--arms=")]
  arms = (chosen[0] if chosen else list(fc.ARMS))[:smoke.MAX_ARMS]
  configs = [fc.arm_config("cpu", arm) for arm in arms]
  sparse = any(c.task.name == "sparse_linear" for c in configs)
  results, report = _check_sweep(
      workdir, arms, ["functions", "error/model"],
      ["function_classes.png"], chance="| predict 0 |",
      rows=["model", "knn"] + ["lasso"] * sparse)
  for arm, config in zip(arms, configs):
    # The distance to every baseline is logged at each evaluation.
    history = results["arms"][arm]["seeds"]["0"]["history"]
    assert "functions/delta/knn" in history[-1]
    assert ("functions/delta/lasso" in history[-1]) == (
        config.task.name == "sparse_linear")
    # Each arm names its learning rate, and the paper's numbers for its
    # class.
    assert re.search(rf"## {re.escape(arm)} \(\d+ points[^)]*, lr "
                     rf"{config.optimizer.learning_rate:g}\)", report)
    assert f"(quoted): {fc_report.PAPER[config.task.name]}" in report
  if "linear" in arms:
    assert "(quoted): d = 20: error / d 0.02 at n = d" in report


def check_benchmark(workdir, stdout, argv):
  lines = dict(line.split(":", 1) for line in stdout.splitlines()
               if ":" in line and not line.startswith("|"))
  assert float(lines["matmul peak"].split()[0]) > 0
  if "steps/s" in lines:  # the single-model part
    assert float(lines["steps/s"]) > 0
    assert 0 < float(lines["fraction of peak"].strip().rstrip("%")) < 100
    assert "of step time" in lines["data generation"]
    whole = re.search(r"([\d.]+) steps/s .* = ([\d.]+)x$",
                     lines["whole batch"])
    assert float(whole[2]) == pytest.approx(
        float(lines["steps/s"]) / float(whole[1]), rel=1e-2)
  rows = [line.split("|")[1:-1] for line in stdout.splitlines()
          if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
  for k, ens_rate, per_model, sequential, speedup, _ in (
      [float(v) for v in r] for r in rows if len(r) == 6):
    assert per_model == pytest.approx(k * ens_rate, rel=1e-3)
    assert speedup == pytest.approx(per_model / sequential, rel=1e-3)
  startup = [r for r in rows_of(stdout) if len(r) == 5]
  for preset, phase, cold, warm, ratio in startup:
    cold, warm, ratio = float(cold), float(warm), float(ratio)
    assert cold > 0 and warm > 0
    # The table prints 4 decimals: a phase of a few ms (smoke mode) moves
    # warm / cold by more than 1% within that rounding.
    half = 5e-5
    assert (warm - half) / (cold + half) * 0.999 <= ratio <= (
        (warm + half) / max(cold - half, 1e-9) * 1.001)
  if startup:  # each launched preset: every phase, cold and warm
    phases = {(r[0], r[1]) for r in startup}
    assert {p for p, _ in phases} == {"regression"}  # smoke: the first
    assert ("regression", "compile init + step") in phases
    assert ("regression", "process, to the first step") in phases
  for _, _, n_chunks, rate, _, whole, _, ratio in (
      r for r in rows_of(stdout) if len(r) == 8):  # the presets table
    assert int(n_chunks) >= 1 and float(rate) > 0
    assert float(ratio) == pytest.approx(float(rate) / float(whole), rel=1e-3)
  for _, _, _, forced, decoded, ratio in (
      r for r in rows_of(stdout) if len(r) == 6 and not r[0].isdigit()):
    assert float(forced) > 0  # the lengths table
    assert float(ratio) == pytest.approx(float(decoded) / float(forced),
                                         rel=1e-3)
  evaluations = {r[0]: r[1:] for r in rows_of(stdout)
                 if len(r) == 4 and r[0] in ("first", "later")}
  if evaluations:  # an ensemble's evaluations: the first one compiles
    (first_s, first_n, _), (later_s, later_n, _) = (
        [float(v) for v in evaluations[w]] for w in ("first", "later"))
    assert first_s > 0 and later_s > 0 and first_n >= 1 and later_n == 0
  assert "machine" in lines
  assert ("steps/s" in lines) or rows or rows_of(stdout)


def rows_of(stdout):
  """The body rows of every markdown table in ``stdout``, as cell lists."""
  return [[c.strip() for c in line.split("|")[1:-1]]
          for line in stdout.splitlines()
          if line.startswith("| ") and not line.startswith("| preset |")
          and not line.startswith("| K |") and not line.startswith("| op |")]
