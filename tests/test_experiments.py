"""Experiment scripts run end to end at toy scale and write their outputs."""

import json
import os

import numpy as np
import pytest

from icl.experiments import benchmark, task_diversity
from icl import schema
from icl.errors import ConfigError
from tests.conftest import ONE_DEVICE, run_module, tiny_config


def test_task_diversity_sweep_writes_table_plot_and_results(tmp_path):
  out = run_module("icl.experiments.task_diversity", "--preset=cpu",
                   f"--workdir={tmp_path}", "--num_tasks=2,-1", "--steps=3")
  assert out.returncode == 0, out.stderr[-2000:]
  results = json.load(open(tmp_path / "results.json"))
  assert set(results) == {"2", "∞"}
  assert "true/delta/dmmse" in results["2"]
  assert "true/delta/dmmse" not in results["∞"]  # no pool, no dMMSE
  table = open(tmp_path / "table.md").read()
  assert "| 2 |" in table and "| ∞ |" in table
  assert os.path.getsize(tmp_path / "task_diversity.png") > 10_000
  # Each M is an ordinary, resumable run directory.
  assert os.path.exists(tmp_path / "M2" / "checkpoints")


def test_sweep_configs_vary_only_the_task_diversity():
  configs = dict(task_diversity.sweep_configs("cpu", ["8", "-1"], steps=7))
  assert set(configs) == {8, -1}
  a, b = configs[8].to_dict(), configs[-1].to_dict()
  assert a["task"].pop("num_tasks") == 8 and b["task"].pop("num_tasks") == -1
  assert a == b and a["train"]["steps"] == 7


def test_sweep_as_one_ensemble_matches_separate_runs(tmp_path):
  configs = {m: tiny_config(task={"num_tasks": m}) for m in (2, -1)}
  separate = task_diversity.run_sweep(configs, str(tmp_path / "separate"))
  together = task_diversity.run_sweep(configs, str(tmp_path / "together"),
                                      ensemble=True)
  assert list(together) == [2, -1]
  for m in configs:
    assert set(together[m]) == set(separate[m])
    names = sorted(separate[m])
    np.testing.assert_allclose([together[m][n] for n in names],
                               [separate[m][n] for n in names], rtol=1e-3)
  assert together[2]["pretrain/error/model"] != together[-1][
      "pretrain/error/model"]


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


def test_benchmark_prints_throughput_and_the_ensemble_table():
  tiny = ["--config.model.num_layers=1", "--config.model.d_model=16",
          "--config.train.batch_size=8"]
  out = run_module(
      "icl.experiments.benchmark", "--config=configs/regression.py:cpu",
      "--ensemble_config=configs/regression.py:cpu", "--timed_steps=2",
      "--repeats=1", "--ensemble_sizes=1,2", *tiny,
      *[flag.replace("--config.", "--ensemble_config.") for flag in tiny])
  assert out.returncode == 0, out.stderr[-2000:]
  lines = dict(line.split(":", 1) for line in out.stdout.splitlines()
               if ":" in line and not line.startswith("|"))
  assert float(lines["steps/s"]) > 0
  assert 0 < float(lines["fraction of peak"].strip().rstrip("%")) < 100
  assert "of step time" in lines["data generation"]
  rows = [line.split("|")[1:-1] for line in out.stdout.splitlines()
          if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
  ensemble_rows = [r for r in rows if len(r) == 6]
  assert [int(r[0]) for r in ensemble_rows] == [1, 2]
  for k, ens_rate, per_model, sequential, speedup, _ in (
      [float(v) for v in r] for r in ensemble_rows):
    assert per_model == pytest.approx(k * ens_rate, rel=1e-3)
    assert speedup == pytest.approx(per_model / sequential, rel=1e-3)


def test_positional_encoding_sweep_writes_the_table(tmp_path):
  from icl.experiments import positional_encodings as pe
  results = pe.run_sweep("cpu", ["copy"], ["none", "rope+randomized"],
                         str(tmp_path), steps=10, verbose=False)
  assert set(results["copy"]) == {"none", "rope+randomized"}
  config = json.load(open(tmp_path / "copy" / "rope_randomized" /
                          "config.json"))
  assert config["model"]["randomized_positions"] == pe.RANDOMIZED_MAX
  text = pe.write_outputs(results, str(tmp_path))
  beyond = results["copy"]["none"]["exact_match"][20:]
  assert f"| copy | {np.mean(beyond):.2f} (0.99) |" in text
  assert (tmp_path / "accuracy_vs_length_copy.png").stat().st_size > 1000
  saved = json.load(open(tmp_path / "results.json"))
  assert saved["copy"]["none"]["curves"]["lengths"][-1] == 40


def test_positional_encoding_sweep_checks_every_arm_first(tmp_path):
  from icl.experiments import positional_encodings as pe
  with pytest.raises(ConfigError, match="unknown variant 'shuffled'"):
    pe.run_sweep("cpu", ["copy"], ["none", "rope+shuffled"], str(tmp_path))
  assert not os.listdir(tmp_path)


def _small_sorting(get_config):
  def shrunk(arg=None):
    c = get_config(arg)
    c.task.update(max_length=6, num_values=32)
    c.model.update(num_layers=1, d_model=16, num_heads=2)
    c.eval.update(batch_size=8, max_length=20)
    return c
  return shrunk


def test_sorting_hints_sweep_writes_report_with_paper_numbers_and_probe(
    tmp_path, monkeypatch):
  from icl.experiments import sorting_hints as sh
  monkeypatch.setattr(sh.sorting, "get_config",
                      _small_sorting(sh.sorting.get_config))
  monkeypatch.setattr(sh, "PROBE_LENGTHS", (4, 12))
  out = sh.run_sweep("cpu", ["none", "successor+temperature"], str(tmp_path),
                     steps=10, verbose=False)
  config = json.load(open(tmp_path / "successor_temperature" /
                          "config.json"))
  assert config["task"]["components"] == ["sort", "successor"]
  assert config["model"]["learn_temperature"] is True
  assert json.load(open(tmp_path / "none" / "config.json"))["task"][
      "components"] == ["sort"]
  text = sh.write_outputs(out, str(tmp_path), "cpu",
                          sh.arm_config("cpu", "none", 10))
  at_20 = out["none"]["results"]["exact_match"][19]
  assert f"| none | {at_20:.3f} | < 0.01 |" in text  # n=20, paper at 100
  assert "| successor+temperature |" in text and "> 0.92" not in text
  hits = np.asarray(out["none"]["probe"]["hits"])
  assert hits.shape == (2, 1, 2)  # lengths x layers x heads
  head, rate = sh.successor.best_heads(out["none"]["probe"])[1]
  assert f"{rate:.2f} ({head})" in text
  assert (tmp_path / "accuracy_vs_length.png").stat().st_size > 1000
  saved = json.load(open(tmp_path / "results.json"))
  assert saved["none"]["results"]["lengths"][-1] == 20


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


def test_arithmetic_sample_efficiency_writes_table_beside_lee(tmp_path,
                                                             monkeypatch):
  from icl.experiments import arithmetic_sample_efficiency as se
  monkeypatch.setenv("ICL_DATA_DIR", str(tmp_path / "data"))
  results = se.run_sweep("cpu", str(tmp_path / "se"), formats=("plain",
                         "reverse"), protocols=("lee",), sizes=(100, 200),
                         seeds=(0, 1), steps=2, verbose=False)
  acc = results["accuracy"]["lee"]
  assert set(acc) == {"plain", "reverse"}
  assert set(acc["reverse"]) == {"100", "200"}
  assert all(set(v) == {"0", "1"} for v in acc["plain"].values())
  report = open(tmp_path / "se" / "report.md").read()
  assert "| N | plain (ours) | plain (Lee et al.) | reverse (ours)" in report
  assert "| 100 |" in report and results["dataset"]["sha256"] in report
  assert "packing=stream, loss on all, delimiters=paper" in report
  assert os.path.getsize(tmp_path / "se" / "accuracy_vs_examples.png") > 0
  members = json.load(open(tmp_path / "se" / "lee_reverse" / "member_1" /
                           "config.json"))
  assert members["task"]["num_train"] == 200 and members["seed"] == 0


def test_arithmetic_length_generalization_writes_grids(tmp_path,
                                                       monkeypatch):
  from icl.experiments import arithmetic_length_generalization as lg
  monkeypatch.setenv("ICL_DATA_DIR", str(tmp_path / "data"))
  monkeypatch.setitem(lg.PRESETS, "cpu", dict(
      k=2, layers=1, width=16, heads=2, steps=2, batch=8, train_size=500,
      test_size=200))
  results = lg.run_sweep("cpu", str(tmp_path / "lg"),
                         arms=("abacus", "fire_randomized"), verbose=False)
  for r in results.values():
    assert r["grid"]["len_a"] == [1, 2, 3, 4]
    assert sum(map(sum, r["grid"]["count"])) == 200
  config = lg.arm_config("cpu", "abacus")
  assert config.model.positional == "abacus"
  assert config.task.positions == "abacus" and config.task.max_offset == 4
  report = open(tmp_path / "lg" / "report.md").read()
  assert "| abacus |" in report and "| fire_randomized |" in report
  assert "| arm | seen (<= 2) | beyond 2 | n=1 | n=2 | n=3 | n=4 |" in report
  assert os.path.getsize(tmp_path / "lg" / "accuracy_grid.png") > 0
