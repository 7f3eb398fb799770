"""Arithmetic: formats, scratchpads, position ids, datasets, the task's
batches, ragged decoding, evaluation breakdowns and config errors."""

import os
import re
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from icl.configs import arithmetic as arithmetic_config
from icl import decoding, models, schema, tasks
from icl.evaluators import arithmetic as evaluate_arithmetic
from icl.tasks.arithmetic import dataset as datasets
from icl.tasks.arithmetic import formats, positions, problems
from tests.conftest import ONE_DEVICE, config_error


def fmt(parts, dollars=False, widths=(3, 3, 4)):
  return formats.Format(formats.parse_parts(parts), widths, dollars)


# Lee et al. 2023's rendering of 128 + 367 (../shared/REFERENCES.md).
REFERENCE = {
    ("plain", False): "128+367=495",
    ("reverse", True): "$128+367=594$",
    ("zero_pad", False): "128+367=0495",
    ("scratchpad", False):
        "Input:\n128+367\nTarget:\nA->5 , C->1\nA->9 , C->0\nA->4 , C->0.\n"
        "495",
    ("detailed_scratchpad", False):
        "Input:\n128+367\nTarget:\n<scratch>\n[1,2,8] has 3 digits.\n"
        "[3,6,7] has 3 digits.\n"
        "[1,2,8] + [3,6,7] , A=[] , C=0 , 8+7+0=15 , A->5 , C->1\n"
        "[1,2] + [3,6] , A=[5] , C=1 , 2+6+1=9 , A->9 , C->0\n"
        "[1] + [3] , A=[9,5] , C=0 , 1+3+0=4 , A->4 , C->0\n"
        "[] + [] , A=[4,9,5] C=0 , END\n</scratch>\n4 9 5",
    # Ours, as documented in formats.py.
    ("reverse", False): "128+367=594",
    ("reverse_all", False): "821+763=594",
    ("reverse_all+index_hints", False):
        "<0>8<1>2<2>1+<0>7<1>6<2>3=<0>5<1>9<2>4",
    ("zero_pad+reverse", False): "128+367=5940",
}


def test_detailed_scratchpad_lists_the_answer_before_a_final_carry():
  # Lee et al.'s data files write END before the final carry joins A.
  example = formats.render(826, 574, "+", fmt("detailed_scratchpad"))
  assert "[] + [] , A=[4,0,0] C=1 , END\n</scratch>\n1 4 0 0" in example.text
  assert example.text.endswith("1 4 0 0")
  assert formats.parse_answer(example.answer,
                              fmt("detailed_scratchpad")) == 1400


@pytest.mark.parametrize("parts,dollars", list(REFERENCE))
def test_format_renders_128_plus_367_as_the_reference(parts, dollars):
  f = fmt(parts, dollars)
  example = formats.render(128, 367, "+", f)
  assert example.text == REFERENCE[(parts, dollars)]
  assert formats.parse_answer(example.answer, f) == 495
  prompt = "".join(example.prompt)
  assert prompt.endswith("=") or prompt.endswith("Target:\n")


def test_random_spaces_only_add_spaces_to_the_prompt_and_are_seeded():
  f = fmt("random_spaces")
  a = formats.render(128, 367, "+", f, np.random.default_rng(0))
  b = formats.render(128, 367, "+", f, np.random.default_rng(0))
  texts = {formats.render(128, 367, "+", f, np.random.default_rng(s)).text
           for s in range(20)}
  assert a == b and len(texts) > 5
  assert a.text.replace(" ", "") == "128+367=495"
  assert " " not in "".join(a.answer)


def test_every_format_parses_back_to_the_answer_on_random_problems():
  rng = np.random.default_rng(1)
  combos = ["plain", "reverse", "reverse_all", "zero_pad", "index_hints",
            "reverse_all+index_hints+zero_pad", "random_spaces+reverse"]
  for op in problems.OPS:
    for _ in range(50):
      a, b = (int(x) for x in rng.integers(0, 10 ** 5, 2))
      for parts in combos:
        f = fmt(parts, widths=(5, 5, 10))
        ex = formats.render(a, b, op, f, rng)
        assert formats.parse_answer(ex.answer, f) == problems.answer(
            a, b, op), (parts, a, op, b, ex.text)
  assert formats.parse_answer(["1", "2"], fmt("plain")) == 12
  assert formats.parse_answer(["1", "BOS"], fmt("plain")) is None
  assert formats.parse_answer(["EOS"], fmt("plain")) is None


def test_scratchpads_do_correct_arithmetic_on_random_inputs():
  rng = np.random.default_rng(2)
  for _ in range(200):
    a, b = (int(x) for x in rng.integers(0, 10 ** rng.integers(1, 7), 2))
    simple = formats.render(a, b, "+", fmt("scratchpad")).text
    body = simple.split("Target:\n")[1].split("\n")
    steps, final = body[:-1], body[-1]
    assert final == str(a + b)
    carry, digits = 0, []
    for k, line in enumerate(steps):
      d, c = map(int, re.fullmatch(r"A->(\d) , C->(\d)\.?", line).groups())
      x, y = (a // 10 ** k) % 10, (b // 10 ** k) % 10
      assert (d, c) == ((x + y + carry) % 10, (x + y + carry) // 10)
      carry, digits = c, [d] + digits
    assert int("".join(map(str, ([carry] if carry else []) + digits))) == a + b

    detailed = formats.render(a, b, "+", fmt("detailed_scratchpad")).text
    carry = 0
    sums = re.findall(r"C=(\d) , (\d)\+(\d)\+(\d)=(\d+) , A->(\d) , C->(\d)",
                      detailed)
    assert len(sums) == max(len(str(a)), len(str(b)))
    for k, (c_in, x, y, c2, total, d, c_out) in enumerate(sums):
      x, y, c_in, c2 = int(x), int(y), int(c_in), int(c2)
      assert c_in == c2 == carry
      assert (x, y) == ((a // 10 ** k) % 10, (b // 10 ** k) % 10)
      assert int(total) == x + y + carry
      assert (int(d), int(c_out)) == (int(total) % 10, int(total) // 10)
      carry = int(c_out)
    assert detailed.endswith(" ".join(str(a + b)))


def test_abacus_and_coupled_ids_on_multi_number_strings():
  rev = formats.render(128, 367, "+", fmt("reverse_all"))
  assert positions.abacus(rev) == [1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
  plain = formats.render(128, 67, "+", fmt("plain"))  # 128+67=195
  assert positions.abacus(plain) == [1, 2, 3, 0, 1, 2, 0, 1, 2, 3]
  assert positions.coupled(plain) == [3, 2, 1, 0, 2, 1, 0, 3, 2, 1]
  carry = formats.render(95, 7, "+", fmt("reverse_all"))  # 59+7=201
  assert carry.text == "59+7=201"
  assert positions.abacus(carry) == [1, 2, 0, 1, 0, 1, 2, 3]
  assert positions.coupled(carry) == positions.abacus(carry)
  assert positions.ids("default", carry) is None


def test_carries_match_a_column_reference_and_sampling_balances_them():
  rng = np.random.default_rng(3)
  for _ in range(500):
    a, b = (int(x) for x in rng.integers(0, 10 ** 4, 2))
    cols = [int(c) for c in str(a + b)]  # reference: column sums
    count, carry = 0, 0
    for k in range(max(len(str(a)), len(str(b)))):
      carry = int((a // 10 ** k) % 10 + (b // 10 ** k) % 10 + carry >= 10)
      count += carry
    assert problems.carries(a, b, "+") == count, (a, b, cols)
  assert problems.carries(1000, 1, "-") == 3  # 1000 - 1 borrows 3 times
  assert problems.carries(1, 1000, "-") == 3
  spec = problems.ProblemSpec("+", (1, 3), (1, 3), "carries")
  drawn = problems.draw_distinct(spec, 0, 4000)
  counts = np.bincount([problems.carries(a, b, "+") for a, b in drawn])
  assert counts.tolist() == [1000] * 4
  assert len(set(drawn)) == 4000
  lengths = problems.ProblemSpec("+", (1, 4), (1, 4), "lengths")
  cells = np.zeros((4, 4))
  for a, b in problems.draw_distinct(lengths, 0, 8000):
    cells[problems.digits(a) - 1, problems.digits(b) - 1] += 1
  # 1x1 has only 100 problems; every other cell gets about 8000/16.
  assert cells[0, 0] <= 100 and np.all(np.abs(cells.ravel()[1:] - 500) < 110)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("datasets"))


SPEC = datasets.DatasetSpec(problems.ProblemSpec(), 300,
                            problems.ProblemSpec(), 200, seed=5)


def test_dataset_is_disjoint_deterministic_and_versioned(dataset_dir, tmp_path,
                                                        monkeypatch, capsys,
                                                        caplog):
  data = datasets.load(SPEC, dataset_dir)
  assert len(data.train) == 300 and len(data.test) == 200
  assert not set(data.train) & set(data.test)
  assert len(set(data.train)) == 300
  assert data.version == datasets.VERSION
  assert sorted(data.train) == sorted(datasets.generate(SPEC)[0])
  scratch = tmp_path / "scratch"
  scratch.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(scratch))
  capsys.readouterr()
  again = datasets.load(SPEC, str(tmp_path / "data"))  # built afresh
  assert not os.listdir(scratch)  # and it left no temporary directory
  # It says so in one line of its own, and TFDS warns of nothing.
  printed = capsys.readouterr().out.splitlines()
  assert len(printed) == 1 and printed[0].startswith(
      f"building the arithmetic dataset {SPEC.name} in {tmp_path}")
  assert not [r for r in caplog.records if r.levelname == "WARNING"]
  assert again.train == data.train and again.test == data.test
  assert again.checksum == data.checksum
  other = datasets.load(
      datasets.DatasetSpec(SPEC.train, 300, SPEC.test, 200, seed=6),
      str(tmp_path / "data"))
  assert other.checksum != data.checksum


def test_dataset_reads_back_without_tensorflow(dataset_dir):
  data = datasets.load(SPEC, dataset_dir)
  # A fresh process, with no builder class: only the files are read.
  script = f"""
import importlib.util, sys
assert importlib.util.find_spec("tensorflow") is None, "TF is installed"
import tensorflow_datasets as tfds
from icl.tasks.arithmetic.dataset import read_split
source = tfds.builder_from_directory({data.path!r}).as_data_source()
splits = (read_split(source["train"]), read_split(source["test"]))
assert "tensorflow" not in sys.modules
print(repr(splits))
"""
  out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                       text=True, check=True, cwd=os.getcwd())
  train, test = eval(out.stdout.strip().splitlines()[-1])
  assert train == data.train and test == data.test


def arith_config(**task):
  c = arithmetic_config.get_config("cpu,reverse")
  c.task.update(**{**dict(train_size=300, num_train=300, test_size=200,
                         data_seed=5), **task})
  c.model.update(num_layers=1, d_model=16, num_heads=2)
  c.train.update(steps=4, batch_size=8)
  c.eval.batch_size = 64
  return c


def test_example_batches_are_table_rows_from_the_first_n(dataset_dir):
  task = tasks.build(arith_config(num_train=5, data_dir=dataset_dir).task)
  table = task.tables["train"]
  batch = task.sample(jax.random.key(0), 64)
  rows = np.concatenate([np.asarray(batch.inputs),
                         np.asarray(batch.targets)[:, -1:]], axis=1)
  picked = {tuple(r) for r in rows}
  assert picked <= {tuple(r) for r in table.tokens[:5]} and len(picked) > 1
  for r, m in zip(rows, np.asarray(batch.loss_mask)):
    text = task.decode_tokens(r)
    answer = text.split("=")[1].split("[EOS]")[0]
    # The loss covers the answer digits and the EOS after them.
    assert m.sum() == len(answer) + 1


def test_stream_windows_are_slices_of_the_stream(dataset_dir):
  task = tasks.build(arith_config(packing="stream", loss_on="all", window=24,
                                  num_train=10,
                                  data_dir=dataset_dir).task)
  stream = task._stream
  end = stream["offsets"][10]
  batch = task.sample(jax.random.key(1), 32)
  tokens = stream["tokens"][:end].tolist()
  for inputs, targets in zip(np.asarray(batch.inputs),
                             np.asarray(batch.targets)):
    row = inputs.tolist() + targets[-1:].tolist()
    starts = [i for i in range(end - 24) if tokens[i:i + 25] == row]
    assert starts, "a window that is not a slice of the first 10 examples"
  assert np.all(np.asarray(batch.loss_mask) == 1)


def test_training_offsets_shift_digit_ids_and_hints_only(dataset_dir):
  task = tasks.build(arith_config(format="reverse_all+index_hints",
                                  max_offset=7, data_dir=dataset_dir).task)
  plain = tasks.build(arith_config(format="reverse_all+index_hints",
                                   data_dir=dataset_dir).task)
  key = jax.random.key(2)
  shifted, base = task.sample(key, 16), plain.sample(key, 16)
  first_hint = task.vocab_size - task.hints
  s, b = np.asarray(shifted.inputs), np.asarray(base.inputs)
  np.testing.assert_array_equal(s[b < first_hint], b[b < first_hint])
  offsets = [set((s - b)[r][b[r] >= first_hint].tolist()) for r in range(16)]
  assert all(len(o) == 1 for o in offsets)  # one offset per example
  assert {o.pop() for o in offsets} > {0}

  abacus = tasks.build(arith_config(format="reverse_all", positions="abacus",
                                    max_offset=5, data_dir=dataset_dir).task)
  batch = abacus.sample(key, 16)
  table = abacus.tables["train"]
  p = np.asarray(batch.positions)
  assert p.max() <= table.position_ids.max() + 5
  assert np.all((p == 0) == (np.isin(np.asarray(batch.inputs),
                                     abacus_digit_ids(abacus), invert=True)))


def abacus_digit_ids(task):
  return [task.vocab.index(d) for d in "0123456789"]


def test_ragged_decoding_matches_per_row_greedy():
  model = models.build(ml_collections.ConfigDict(dict(
      num_layers=2, d_model=16, num_heads=2, mlp_ratio=2, positional="rope",
      max_len=32, dropout_rate=0.0, kernel_init="lecun", dtype="float32")),
      tasks.build(arith_config().task))
  tokens = jax.random.randint(jax.random.key(0), (4, 12), 4, 20)
  params = model.init(jax.random.key(1), tokens, jnp.zeros_like(tokens)
                      )["params"]
  prompt_lengths = jnp.array([3, 5, 5, 9])
  positions_BT = jnp.broadcast_to(jnp.arange(12), (4, 12))
  out = decoding.complete(model, params, tokens, prompt_lengths,
                          positions_BT, jax.random.key(0))
  for b, p in enumerate(prompt_lengths.tolist()):
    want = decoding.greedy_uncached(model, params, tokens[b:b + 1, :p],
                                    12 - p)
    np.testing.assert_array_equal(out[b, :p], tokens[b, :p])
    np.testing.assert_array_equal(out[b, p:], want[0])
  sampled = decoding.complete(model, params, tokens, prompt_lengths,
                              positions_BT, jax.random.key(0), 5.0)
  assert not np.array_equal(sampled, out)


def test_breakdown_counts_and_accuracies(dataset_dir):
  task = tasks.build(arith_config(data_dir=dataset_dir).task)
  pairs = [(5, 7), (12, 9), (999, 1), (3, 4)]
  right = np.array([True, False, True, False])
  r = evaluate_arithmetic.breakdown(right, pairs, "+", task)
  assert r["exact_match"] == 0.5
  assert r["by_carries"] == {"0": [0.0, 1], "1": [0.5, 2], "3": [1.0, 1]}
  g = r["grid"]
  assert g["count"][0][0] == 2 and g["exact_match"][0][0] == 0.5
  assert g["count"][2][0] == 1 and g["exact_match"][2][0] == 1.0
  assert g["exact_match"][1][1] is None


def test_trained_model_decodes_what_teacher_forcing_predicts(tmp_path,
                                                             dataset_dir):
  """Exact match from decoding equals argmax-right-everywhere under teacher
  forcing (for a format whose answer is the whole target), and training
  lowers the loss."""
  from icl import train
  c = arith_config(data_dir=dataset_dir, digits_a=(1, 2), digits_b=(1, 2),
                   test_digits_a=(1, 2), test_digits_b=(1, 2))
  c.model.update(num_layers=2, d_model=32)
  c.optimizer.learning_rate = 3e-3
  c.train.update(steps=200, batch_size=32, log_every=50, eval_every=200,
                 checkpoint_every=200)
  result = train.train_and_evaluate(c, str(tmp_path), verbose=False,
                                    devices=ONE_DEVICE)
  losses = [l for l in map(eval, open(tmp_path / "metrics.jsonl")) if
            "train/loss" in l]
  # Far below a uniform guess over the vocabulary.
  vocab = tasks.build(c.task).vocab_size
  assert losses[-1]["train/loss"] < 0.4 * np.log(vocab)
  from icl import checkpoint
  task = tasks.build(c.task)
  model = models.build(c.model, task)
  _, params = checkpoint.load_params(str(tmp_path))
  t = task.tables["test"]
  logits = model.apply({"params": params}, jnp.asarray(t.tokens[:, :-1]),
                       jnp.asarray(t.position_ids[:, :-1]))
  right = np.asarray(jnp.argmax(logits, -1)) == t.tokens[:, 1:]
  mask = t.answer_mask[:, 1:] > 0
  forced = np.all(right | ~mask, axis=1).mean()
  assert result["arithmetic"]["exact_match"] == pytest.approx(forced)
  assert 0 < result["arithmetic"]["exact_match"] < 1
  assert result["arithmetic"]["dataset"]["sha256"] == task.dataset.checksum
  saved = eval(open(tmp_path / "results.json").read().replace(
      "null", "None").replace("true", "True").replace("false", "False"))
  assert saved["evals"]["arithmetic"]["dataset"]["version"] == datasets.VERSION


BAD = [
    ("task.train_size", 2_000_000, "at most 1000000"),
    ("task.digits_a", (3, 1), "1 <= min <= max"),
    ("task.digits_b", (0, 2), "1 <= min <= max"),
    ("task.format", "scratchpad+reverse", "a scratchpad fixes its own"),
    ("task.format", "reverse+reverse_all", "both reverse the answer"),
    ("task.format", "backwards", "unknown part"),
    ("task.num_train", 301, "at most task.train_size=300"),
    ("task.sampling", "carries", "'uniform' or 'lengths' for task.op='*'"),
    ("task.positions", "abacus", "'default' with task.format='scratchpad'"),
    ("model.positional", "abacus", "task.positions='abacus' or 'coupled'"),
    ("task.packing", "windows", "one of ['example', 'stream']"),
    ("eval.temperature", -1.0, "a finite number >= 0"),
]


@pytest.mark.parametrize("path,value,message", BAD)
def test_bad_arithmetic_configs_fail_before_compiling(path, value, message,
                                                      dataset_dir):
  c = arith_config(data_dir=dataset_dir)
  if path == "task.sampling":
    c.task.op = "*"
  if path == "task.positions":
    c.task.format = "scratchpad"
  if path == "task.train_size":
    c.task.num_train = 10
  assert message in config_error(c, path, value)


def test_test_split_cannot_exceed_what_is_left(dataset_dir):
  c = arith_config(data_dir=dataset_dir, digits_a=(1, 1), digits_b=(1, 1),
                   test_digits_a=(1, 1), test_digits_b=(1, 1),
                   num_train=60, train_size=60, test_size=50)
  with pytest.raises(schema.ConfigError, match="at most 40"):
    schema.validate(c)
