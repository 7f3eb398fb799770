"""Experiment scripts: their arms, checks and numerics. Each documented
command also runs end to end in smoke mode (tests/test_readme.py), and the
``check_*`` functions here say what its outputs must hold."""

import json
import os
import re

import numpy as np
import pytest

from icl.experiments import benchmark, task_diversity
from icl import schema
from icl.errors import ConfigError
from tests.conftest import ONE_DEVICE, tiny_config


def test_sweep_configs_vary_only_the_task_diversity():
  configs = dict(task_diversity.sweep_configs("cpu", ["8", "-1"], steps=7))
  assert set(configs) == {8, -1}
  a, b = configs[8].to_dict(), configs[-1].to_dict()
  assert a["task"].pop("num_tasks") == 8 and b["task"].pop("num_tasks") == -1
  assert a == b and a["train"]["steps"] == 7


def test_sweep_as_one_ensemble_has_each_m_as_the_member_of_its_run():
  # Member k of an ensemble trains exactly as its own run would
  # (tests/test_sharding.py checks that, loss by loss); so the sweep's
  # ensemble matches the separate runs once member k's config is M_k's.
  configs = {m: tiny_config(task={"num_tasks": m}) for m in (2, 16, -1)}
  run = schema.validate(task_diversity.ensemble_config(configs))
  assert run.stacked and len(run.members) == 3
  for member, config in zip(run.members, configs.values()):
    assert member.config.to_dict() == config.to_dict()


def test_ensemble_sweep_needs_runs_that_differ_only_in_m():
  configs = {2: tiny_config(task={"num_tasks": 2}),
             8: tiny_config(task={"num_tasks": 8}, train={"steps": 40})}
  with pytest.raises(ConfigError, match="differ only in M.*train.steps 40"):
    task_diversity.ensemble_config(configs)


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


def test_positional_encoding_sweep_checks_every_arm_first(tmp_path):
  from icl.experiments import positional_encodings as pe
  with pytest.raises(ConfigError, match="unknown variant 'shuffled'"):
    pe.run_sweep("cpu", ["copy"], ["none", "rope+shuffled"], str(tmp_path))
  assert not os.listdir(tmp_path)


def test_sorting_hints_sweep_checks_every_arm_first(tmp_path):
  from icl.experiments import sorting_hints as sh
  with pytest.raises(ConfigError, match="must be one of"):
    sh.run_sweep("cpu", ["none", "succesor"], str(tmp_path))
  assert not os.listdir(tmp_path)
  with pytest.raises(ConfigError, match="unknown variant 'hot'"):
    sh.arm_config("cpu", "successor+hot")
  # The paper preset's arms are valid too, though only an accelerator runs
  # them.
  for arm in sh.ARMS + ("successor+temperature",):
    task = schema.validate(sh.arm_config("paper", arm)).task
    assert task.max_length == 20




def test_arm_configs_set_what_their_names_say():
  from icl.experiments import positional_encodings as pe
  from icl.experiments import sorting_hints as sh
  from icl.experiments import arithmetic_length_generalization as lg
  rand = pe.arm_config("cpu", "copy", "rope+randomized")
  assert rand.model.randomized_positions == pe.RANDOMIZED_MAX
  assert rand.model.positional == "rope"
  temp = sh.arm_config("cpu", "successor+temperature")
  assert tuple(temp.task.components) == ("sort", "successor")
  assert temp.model.learn_temperature is True
  assert tuple(sh.arm_config("cpu", "none").task.components) == ("sort",)
  abacus = lg.arm_config("cpu", "abacus")
  assert abacus.model.positional == "abacus"
  # Trained on 1..k digits, tested on 1..2k: offset ids reach the answer
  # width of 2k-digit sums.
  k = abacus.task.digits_a[1]
  assert abacus.task.positions == "abacus"
  assert (k + 1) + abacus.task.max_offset >= 2 * k + 1


# What each experiment's documented command must write (run by
# tests/test_readme.py in smoke mode: the first two arms, 2 steps).

def check_task_diversity(workdir, stdout):
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert len(results) == 2
  m = next(iter(results))
  assert "true/delta/dmmse" in results[m]
  assert f"| {m} |" in open(os.path.join(workdir, "table.md")).read()
  assert os.path.getsize(os.path.join(workdir, "task_diversity.png")) > 10_000
  # Each M is an ordinary, resumable run directory (or an ensemble member).
  assert (os.path.isdir(os.path.join(workdir, f"M{m}", "checkpoints")) or
          os.path.isdir(os.path.join(workdir, "ensemble", "member_1")))


def check_positional_encodings(workdir, stdout):
  results = json.load(open(os.path.join(workdir, "results.json")))
  arms = list(results["copy"])
  assert arms == ["none", "learned"]
  none = results["copy"]["none"]["curves"]
  beyond = np.mean(none["exact_match"][20:])
  table = open(os.path.join(workdir, "table.md")).read()
  assert f"| copy | {beyond:.2f} (0.99) |" in table  # paper beside ours
  assert none["lengths"][-1] == 40
  assert os.path.getsize(os.path.join(workdir,
                                      "accuracy_vs_length_copy.png")) > 1000


def check_sorting_hints(workdir, stdout):
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert list(results) == ["none", "successor"]
  none = results["none"]
  at_20 = none["results"]["exact_match"][19]
  report = open(os.path.join(workdir, "report.md")).read()
  assert f"| none | {at_20:.3f} |" in report and "< 0.01" in report
  assert json.load(open(os.path.join(workdir, "successor", "config.json"))
                   )["task"]["components"] == ["sort", "successor"]
  hits = np.asarray(none["probe"]["hits"])
  assert hits.shape[1:] == (1, 2)  # lengths x layers x heads
  assert "1 layers, width 16" in report  # the report says what ran
  assert os.path.getsize(os.path.join(workdir,
                                      "accuracy_vs_length.png")) > 1000


def check_arithmetic_sample_efficiency(workdir, stdout):
  results = json.load(open(os.path.join(workdir, "results.json")))
  acc = results["accuracy"]["lee"]
  assert list(acc) == ["plain", "reverse"]
  assert list(acc["plain"]) == ["1000", "2000"] == [
      str(n) for n in results["sizes"]]
  report = open(os.path.join(workdir, "report.md")).read()
  assert "| N | plain (ours) | plain (Lee et al.) | reverse (ours)" in report
  assert "| 1000 |" in report and results["dataset"]["sha256"] in report
  assert "packing=stream, loss on all, delimiters=paper" in report
  assert os.path.getsize(os.path.join(workdir,
                                      "accuracy_vs_examples.png")) > 0
  member = json.load(open(os.path.join(workdir, "lee_plain", "member_1",
                                       "config.json")))
  assert member["task"]["num_train"] == 2000 and member["seed"] == 0


def check_arithmetic_length_generalization(workdir, stdout):
  results = json.load(open(os.path.join(workdir, "results.json")))
  arms = list(results["arms"])
  assert arms == ["plain_absolute", "reverse_hints"]
  for r in results["arms"].values():
    assert sum(map(sum, r["grid"]["count"])) == r["dataset"]["test_size"]
  report = open(os.path.join(workdir, "report.md")).read()
  assert all(f"| {arm} |" in report for arm in arms)
  assert re.search(r"\| arm \| seen \(<= \d+\) \| beyond \d+ \| n=\d+ \|",
                   report)
  assert os.path.getsize(os.path.join(workdir, "accuracy_grid.png")) > 0


def check_benchmark(workdir, stdout):
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
    assert float(cold) > 0 and float(warm) > 0
    assert float(ratio) == pytest.approx(float(warm) / float(cold), rel=1e-2)
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
  assert "machine" in lines
  assert ("steps/s" in lines) or rows or rows_of(stdout)


def rows_of(stdout):
  """The body rows of every markdown table in ``stdout``, as cell lists."""
  return [[c.strip() for c in line.split("|")[1:-1]]
          for line in stdout.splitlines()
          if line.startswith("| ") and not line.startswith("| preset |")
          and not line.startswith("| K |") and not line.startswith("| op |")]
