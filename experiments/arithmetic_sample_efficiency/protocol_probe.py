"""Which of Lee et al.'s protocol differences stops learning at CPU scale.

One seed per variant of the reverse arm at N = 10000 (the sweep's cpu
preset otherwise), each a plain training run under ``WORKDIR/VARIANT``;
prints each variant's exact match. About 1-2 minutes per variant on the
2-core machine. Usage, from the repository root:

    python experiments/arithmetic_sample_efficiency/protocol_probe.py WORKDIR
"""

import os
import sys

from icl import train
from icl.experiments.arithmetic_sample_efficiency import sweep

# name: (the sweep arm it starts from, task overrides, model overrides)
VARIANTS = {
    "clean+loss_on_all": ("clean", dict(loss_on="all"), {}),
    "clean+paper_delimiters": ("clean", dict(delimiters="paper"), {}),
    "lee+loss_on_answer": ("lee", dict(loss_on="answer"), {}),
    "lee+rope": ("lee", {}, dict(positional="rope")),
    "lee+nope": ("lee", {}, dict(positional="none")),
}


def main(workdir: str) -> None:
  for name, (protocol, task, model) in VARIANTS.items():
    config = sweep.arm_config("cpu", f"{protocol}.reverse.N=10000")
    config.task.update(**task)
    config.model.update(**model)
    results = train.train_and_evaluate(config, os.path.join(workdir, name),
                                       verbose=False)
    print(f"{name}: exact match {results['arithmetic']['exact_match']:.3f}",
          flush=True)


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit("usage: " + __doc__.strip().splitlines()[-1].strip())
  main(sys.argv[1])
