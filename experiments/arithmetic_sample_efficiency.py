"""Sample efficiency of arithmetic formats (Lee et al. 2023, Table/Fig. 2).

3-digit addition trained on N = 1000, 2000, 4000, 10000 problems in three
formats (plain, reverse, simplified scratchpad), several seeds, under two
protocols:

- ``lee``: Lee et al.'s own: the training examples concatenated into one
  stream cut into random windows, loss on every token, ``$`` only around
  the reversed format (plain gets no start delimiter).
- ``clean``: one example per sequence, loss on the answer only, every
  format delimited alike (BOS/EOS).

Each (protocol, format) is one vmapped run of N x seeds members on nested
training sets (the first N problems of one 10,000-problem split) and one
disjoint test split. Writes report.md (our accuracy beside the paper's),
results.json and accuracy_vs_examples.png into --workdir.

    python -m icl.experiments.arithmetic_sample_efficiency --preset=cpu \\
        --workdir=runs/arith_se
"""

from __future__ import annotations

import os

import numpy as np

from icl.configs import arithmetic as arithmetic_config
from icl import cli, files, schema, train
from icl.metrics import markdown_table

SIZES = (1000, 2000, 4000, 10000)
FORMATS = ("plain", "reverse", "scratchpad")
PROTOCOLS = {
    "lee": dict(packing="stream", loss_on="all", delimiters="paper"),
    "clean": dict(packing="example", loss_on="answer", delimiters="equal"),
}
# Lee et al. 2023, 3-digit addition, test accuracy % by N (quoted).
PAPER = {
    "plain": {1000: 0.4, 2000: 1.7, 4000: 62.3, 10000: 87.4},
    "reverse": {1000: 1.6, 2000: 30.6, 4000: 98.2, 10000: 100.0},
    "scratchpad": {1000: 84.6, 2000: 99.7, 4000: 99.9, 10000: 100.0},
}


def arm_config(preset: str, fmt: str, protocol: str, sizes=SIZES,
               seeds=(0, 1, 2), steps: int | None = None):
  """One vmapped run: every (N, seed) of one format and protocol."""
  c = arithmetic_config.get_config(f"{preset},{fmt}")
  c.task.update(**PROTOCOLS[protocol])
  c.task.update(train_size=max(sizes), num_train=max(sizes))
  if preset == "cpu":
    # CPU scale: a small model; equal tokens per step in both packings
    # (64 examples of about 14 tokens, or 16 windows of 64).
    c.model.update(d_model=64, num_heads=4)
    c.train.update(steps=1500, batch_size=64, eval_every=1500,
                   checkpoint_every=1500)
    c.task.update(test_size=1000, window=64)
    if protocol == "lee":
      c.train.batch_size = 16
  else:
    c.task.update(test_size=10_000, window=256)
  if steps:
    c.train.update(steps=steps, eval_every=steps, checkpoint_every=steps)
  c.ensemble.num_train = tuple(n for _ in seeds for n in sizes)
  c.ensemble.seed = tuple(s for s in seeds for _ in sizes)
  return c


def run_sweep(preset: str, workdir: str, formats=FORMATS,
              protocols=tuple(PROTOCOLS), sizes=SIZES, seeds=(0, 1, 2),
              steps: int | None = None, verbose: bool = True) -> dict:
  """Trains every arm (resuming finished ones) and writes the report."""
  arms = {(p, f): arm_config(preset, f, p, sizes, seeds, steps)
          for p in protocols for f in formats}
  # Every arm is checked once, before any trains.
  runs = schema.validate_arms(arms, lambda key: "/".join(key))
  accuracy = {}
  dataset = None
  trained = {"sizes": {}, "seeds": {}}  # in order; smoke mode trains fewer
  for (protocol, fmt), run in runs.items():
    config = run.config
    if verbose:
      print(f"== {protocol} / {fmt}", flush=True)
    members = [m["arithmetic"].data for m in train.train_and_evaluate(
        run, os.path.join(workdir, f"{protocol}_{fmt}"),
        verbose=verbose)]
    dataset = members[0]["dataset"]
    for member, n, seed in zip(members, config.ensemble.num_train,
                               config.ensemble.seed):
      accuracy.setdefault(protocol, {}).setdefault(fmt, {}).setdefault(
          n, {})[seed] = member["exact_match"]
      trained["sizes"][n] = trained["seeds"][seed] = None
  results = {"preset": preset, "sizes": list(trained["sizes"]),
             "seeds": list(trained["seeds"]),
             "dataset": dataset, "accuracy": _json_keys(accuracy),
             "paper": _json_keys(PAPER)}
  write_outputs(results, {arm: r.config for arm, r in runs.items()}, workdir)
  return results


def _json_keys(d):
  return {str(k): _json_keys(v) if isinstance(v, dict) else v
          for k, v in d.items()}


def summary_table(results: dict, protocol: str) -> str:
  """Mean ± std over seeds, %, beside the paper's number."""
  acc = results["accuracy"][protocol]
  headers = ["N"]
  for fmt in acc:
    headers += [f"{fmt} (ours)", f"{fmt} (Lee et al.)"]
  rows = []
  for n in results["sizes"]:
    row = [n]
    for fmt, by_n in acc.items():
      values = 100 * np.array(list(by_n[str(n)].values()))
      row.append(f"{values.mean():.1f} ± {values.std():.1f}")
      row.append(results["paper"].get(fmt, {}).get(str(n), ""))
    rows.append(row)
  return markdown_table(headers, rows)


def write_outputs(results: dict, arms: dict, workdir: str) -> None:
  files.write_json(os.path.join(workdir, "results.json"), results)
  config = next(iter(arms.values()))
  lines = [
      "# Sample efficiency of arithmetic formats (Lee et al. 2023)", "",
      f"Preset `{results['preset']}`: 3-digit addition, "
      f"{config.model.num_layers} layers x {config.model.d_model}, "
      f"{config.model.num_heads} heads, {config.train.steps} steps, "
      f"seeds {results['seeds']}; exact match (%) of greedy decoding on "
      f"{results['dataset']['test_size']} disjoint test problems, mean ± std "
      "over seeds. Lee et al.'s numbers are quoted from the paper "
      "(6 x 384 NanoGPT, 5000 steps, batch 256).", "",
      f"Dataset `{results['dataset']['name']}` version "
      f"{results['dataset']['version']}, sha256 "
      f"`{results['dataset']['sha256']}`.", ""]
  for protocol in results["accuracy"]:
    arm = arms[(protocol, next(iter(results["accuracy"][protocol])))]
    lines += [f"## Protocol `{protocol}`: packing={arm.task.packing}, "
              f"loss on {arm.task.loss_on}, delimiters={arm.task.delimiters}"
              f", batch {arm.train.batch_size}"
              + (f" windows of {arm.task.window}"
                 if arm.task.packing == "stream" else ""), "",
              summary_table(results, protocol), ""]
  lines += ["![accuracy against N](accuracy_vs_examples.png)", ""]
  files.write_text(os.path.join(workdir, "report.md"), "\n".join(lines))
  plot(results, os.path.join(workdir, "accuracy_vs_examples.png"))


def plot(results: dict, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  protocols = list(results["accuracy"])
  fig, axes = plt.subplots(1, len(protocols), figsize=(5 * len(protocols), 3.6),
                           sharey=True, squeeze=False)
  sizes = results["sizes"]
  for ax, protocol in zip(axes[0], protocols):
    for k, (fmt, by_n) in enumerate(results["accuracy"][protocol].items()):
      values = np.array([[100 * v for v in by_n[str(n)].values()]
                         for n in sizes])
      line = ax.errorbar(sizes, values.mean(1), yerr=values.std(1),
                         marker="o", capsize=3, label=f"{fmt} (ours)")
      paper = results["paper"].get(fmt, {})
      if all(str(n) in paper for n in sizes):
        ax.plot(sizes, [paper[str(n)] for n in sizes], ls="--",
                color=line[0].get_color(), alpha=0.6,
                label=f"{fmt} (Lee et al.)")
    ax.set_xscale("log")
    ax.set_xlabel("training examples N")
    ax.set_title(f"protocol: {protocol}")
  axes[0][0].set_ylabel("exact match (%)")
  axes[0][-1].legend(fontsize=7)
  fig.tight_layout()
  files.save_figure(fig, path)
  plt.close(fig)


if __name__ == "__main__":
  from absl import flags
  _PRESET = flags.DEFINE_enum("preset", "cpu", ["cpu", "paper"], "Scale.")
  _WORKDIR = flags.DEFINE_string("workdir", "runs/arith_sample_efficiency",
                                 "Where runs and the report go.")
  _FORMATS = flags.DEFINE_list("formats", list(FORMATS), "Formats to run.")
  _PROTOCOLS = flags.DEFINE_list("protocols", list(PROTOCOLS),
                                 "Protocols to run.")
  _SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
  _STEPS = flags.DEFINE_integer("steps", None, "Override training steps.")

  def main(argv):
    del argv
    run_sweep(_PRESET.value, _WORKDIR.value, tuple(_FORMATS.value),
              tuple(_PROTOCOLS.value), SIZES,
              tuple(int(s) for s in _SEEDS.value), _STEPS.value)
    print(open(os.path.join(_WORKDIR.value, "report.md")).read())

  cli.run(main)
