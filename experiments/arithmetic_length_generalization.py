"""Length generalization in addition: train on 1..k digits, test to 2k.

Arms (positional schemes of the literature):

- ``plain_absolute``: plain format, learned absolute positions.
- ``reverse_hints``: operands and answer reversed, with index hints
  (Zhou et al. 2023); no positional encoding (NoPE).
- ``fire_randomized``: the same format with FIRE and randomized positions
  (Zhou et al. 2024's recipe).
- ``abacus``: reversed operands and answer with Abacus digit ids and a
  random training offset (McLeish et al. 2024); NoPE attention.

Training problems: operand lengths uniform over the (len_a, len_b) buckets
of 1..k (McLeish et al.'s sampling), loss on the answer, one example per
sequence. Test: a disjoint split over the 1..2k grid, exact match of greedy
decoding per cell. Writes report.md, results.json and accuracy_grid.png
(one heat map per arm, the training square outlined) into --workdir.

    python -m icl.experiments.arithmetic_length_generalization --preset=cpu \\
        --workdir=runs/arith_lg
"""

from __future__ import annotations

import os


from icl.configs import arithmetic as arithmetic_config
from icl import cli, files, schema, train
from icl.evaluators import arithmetic as evaluate_arithmetic
from icl.metrics import markdown_table

ARMS = {
    "plain_absolute": dict(task=dict(format="plain"),
                           model=dict(positional="learned")),
    "reverse_hints": dict(task=dict(format="reverse_all+index_hints"),
                          model=dict(positional="none")),
    "fire_randomized": dict(task=dict(format="reverse_all+index_hints"),
                            model=dict(positional="fire",
                                       randomized_positions=256)),
    "abacus": dict(task=dict(format="reverse_all", positions="abacus"),
                   model=dict(positional="abacus")),
}
# Quoted headline results (see ../shared/REFERENCES.md).
PAPERS = [
    "McLeish et al. 2024 (Abacus): 99% on 100-digit addition after training "
    "on <= 20 digits (looped transformer, one GPU-day).",
    "Zhou et al. 2024 (FIRE + randomized positions + reversed + index "
    "hints): > 98% exact match at 100 digits after training on <= 40.",
    "Cho et al. 2024 (position coupling): trained on 1-30 digits, "
    "generalizes to 200.",
    "Lee et al. 2023 (plain absolute positions): 0% on 8 digits after "
    "training on 1-7.",
]
PRESETS = {
    # k, model, steps, batch, train problems, test problems
    "cpu": dict(k=5, layers=2, width=128, heads=4, steps=3000, batch=128,
                train_size=20_000, test_size=2000),
    "paper": dict(k=20, layers=6, width=384, heads=6, steps=20_000,
                  batch=256, train_size=200_000, test_size=40 * 40 * 20),
}


def arm_config(preset: str, arm: str, steps: int | None = None,
               seed: int = 0):
  p = PRESETS[preset]
  k = p["k"]
  c = arithmetic_config.get_config(f"{preset},plain")
  c.seed = seed
  c.task.update(digits_a=(1, k), digits_b=(1, k), sampling="lengths",
                test_digits_a=(1, 2 * k), test_digits_b=(1, 2 * k),
                test_sampling="lengths", train_size=p["train_size"],
                num_train=p["train_size"], test_size=p["test_size"],
                packing="example", loss_on="answer", delimiters="equal",
                # Training offsets reach ids and hints of 2k-digit numbers.
                max_offset=k + 2)
  c.model.update(num_layers=p["layers"], d_model=p["width"],
                 num_heads=p["heads"], dropout_rate=0.0,
                 max_len=max(256, 8 * k + 16))
  steps = steps or p["steps"]
  c.train.update(steps=steps, batch_size=p["batch"], eval_every=steps,
                 checkpoint_every=steps)
  c.task.update(**ARMS[arm]["task"])
  c.model.update(**ARMS[arm]["model"])
  if c.task.positions == "default" and "index_hints" not in c.task.format:
    c.task.max_offset = 0  # nothing to shift
  return c


def run_sweep(preset: str, workdir: str, arms=tuple(ARMS),
              steps: int | None = None, seed: int = 0,
              verbose: bool = True) -> dict:
  configs_by_arm = {a: arm_config(preset, a, steps, seed) for a in arms}
  # Every bad arm fails before any training, and each is validated once.
  runs = schema.validate_arms(configs_by_arm, str)
  results = {}
  for arm, run in runs.items():
    if verbose:
      print(f"== {arm}", flush=True)
    results[arm] = train.train_and_evaluate(
        run, os.path.join(workdir, arm), verbose=verbose)["arithmetic"].data
  write_outputs(results, {a: r.config for a, r in runs.items()}, preset,
                workdir)
  return results


def by_longest_operand(result: dict) -> dict[int, float]:
  """Exact match by max(len_a, len_b), weighting cells by their counts."""
  g = result["grid"]
  out = {}
  for i, la in enumerate(g["len_a"]):
    for j, lb in enumerate(g["len_b"]):
      n, acc = g["count"][i][j], g["exact_match"][i][j]
      if n:
        hits, total = out.get(max(la, lb), (0.0, 0))
        out[max(la, lb)] = (hits + acc * n, total + n)
  return {m: hits / total for m, (hits, total) in sorted(out.items())}


def write_outputs(results: dict, configs_by_arm: dict, preset: str,
                  workdir: str) -> None:
  summary = {arm: {"seen": r["exact_match_seen"],
                   "beyond": r["exact_match_beyond"],
                   "by_longest_operand": by_longest_operand(r)}
             for arm, r in results.items()}
  files.write_json(os.path.join(workdir, "results.json"),
                   {"preset": preset, "summary": summary, "arms": results})
  config = next(iter(configs_by_arm.values()))
  k = config.task.digits_a[1]
  longest = sorted({m for s in summary.values()
                    for m in s["by_longest_operand"]})
  rows = [[arm, s["seen"], s["beyond"]] + [s["by_longest_operand"].get(m)
                                          for m in longest]
          for arm, s in summary.items()]
  dataset = next(iter(results.values()))["dataset"]
  lines = [
      "# Length generalization in addition", "",
      f"Preset `{preset}`: trained on 1..{k}-digit operands, tested on "
      f"1..{2 * k}; {config.model.num_layers} layers x "
      f"{config.model.d_model}, {config.model.num_heads} heads, "
      f"{config.train.steps} steps, batch {config.train.batch_size}, "
      f"{config.task.train_size} training problems, seed {config.seed}. "
      "Exact match of greedy decoding.", "",
      f"Dataset `{dataset['name']}` version {dataset['version']}, sha256 "
      f"`{dataset['sha256']}`.", "",
      "Columns `n=m`: test problems whose longer operand has m digits.", "",
      markdown_table(["arm", f"seen (<= {k})", f"beyond {k}"]
                     + [f"n={m}" for m in longest], rows), "",
      "![accuracy per operand-length cell](accuracy_grid.png)", "",
      "Published results (quoted, at far larger scale):", ""]
  lines += [f"- {p}" for p in PAPERS]
  for arm, r in results.items():
    lines += ["", f"## {arm}", "", evaluate_arithmetic.table(r)]
  files.write_text(os.path.join(workdir, "report.md"), "\n".join(lines) + "\n")
  evaluate_arithmetic.plot(results, os.path.join(workdir, "accuracy_grid.png"),
                           title=f"addition, trained on 1..{k} digits")


if __name__ == "__main__":
  from absl import flags
  _PRESET = flags.DEFINE_enum("preset", "cpu", list(PRESETS), "Scale.")
  _WORKDIR = flags.DEFINE_string("workdir", "runs/arith_length_gen",
                                 "Where runs and the report go.")
  _ARMS = flags.DEFINE_list("arms", list(ARMS), "Arms to run.")
  _STEPS = flags.DEFINE_integer("steps", None, "Override training steps.")
  _SEED = flags.DEFINE_integer("seed", 0, "Seed of every arm.")

  def main(argv):
    del argv
    unknown = set(_ARMS.value) - set(ARMS)
    if unknown:
      cli.fail(f"--arms must be among {list(ARMS)}, got {sorted(unknown)}")
    run_sweep(_PRESET.value, _WORKDIR.value, tuple(_ARMS.value),
              _STEPS.value, _SEED.value)
    print(open(os.path.join(_WORKDIR.value, "report.md")).read())

  cli.run(main)
