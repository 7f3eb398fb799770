"""Finite arithmetic datasets: N training problems and a disjoint test set.

A dataset is a TFDS ``GeneratorBasedBuilder`` written as array_record and
read back with ``as_data_source``; TensorFlow is never imported. It stores
canonical problems (a, b as decimal text, with their carries and operand
lengths), not rendered text, so every format and position scheme trains on
the very same problems.

Determinism: the problems are a function of the ``DatasetSpec`` (and
``VERSION``, bumped whenever generation changes). The test problems come
from their own random stream and exclude every training problem, so any
prefix of the training split is disjoint from the test split. The training
split's read order (TFDS shuffles by key at write time) is fixed too:
``task.num_train`` takes its first N problems, so smaller training sets
are nested in larger ones.

``load`` returns the problems plus the dataset's name, version and a
SHA-256 of what was read, which runs record in ``results.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os

import numpy as np

from icl.tasks.arithmetic import problems

VERSION = "1.0.0"
OP_NAMES = {"+": "add", "-": "sub", "*": "mul"}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  train: problems.ProblemSpec
  train_size: int
  test: problems.ProblemSpec
  test_size: int
  seed: int = 0

  @property
  def name(self) -> str:
    """The TFDS config name: every field, readable."""
    def part(p: problems.ProblemSpec, size: int) -> str:
      (a0, a1), (b0, b1) = p.digits_a, p.digits_b
      return f"a{a0}-{a1}_b{b0}-{b1}_{p.sampling}_n{size}"
    return (f"{OP_NAMES[self.train.op]}_{part(self.train, self.train_size)}"
            f"__test_{part(self.test, self.test_size)}__seed{self.seed}")


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  version: str
  checksum: str  # SHA-256 of the problems read back, train then test
  path: str
  train: tuple[tuple[int, int], ...]
  test: tuple[tuple[int, int], ...]

  def describe(self) -> dict:
    return {"name": self.name, "version": self.version,
            "sha256": self.checksum, "path": self.path,
            "train_size": len(self.train), "test_size": len(self.test)}


def default_data_dir() -> str:
  return os.environ.get("ICL_DATA_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "icl", "datasets")


def generate(spec: DatasetSpec) -> tuple[list, list]:
  """(train, test) problems; pure in ``spec``."""
  seeds = np.random.SeedSequence(spec.seed).spawn(2)
  train = problems.draw_distinct(spec.train, seeds[0], spec.train_size)
  test = problems.draw_distinct(spec.test, seeds[1], spec.test_size,
                                exclude=frozenset(train))
  return train, test


@functools.lru_cache(maxsize=None)
def _builder_class():
  # Imported here: ``import icl`` stays free of TFDS for other tasks.
  import tensorflow_datasets as tfds

  class LocalInfo(tfds.core.DatasetInfo):
    def initialize_from_bucket(self) -> None:
      """Nothing to fetch: these datasets are generated here, never
      hosted on TFDS's bucket. (TFDS's own lookup makes a temporary
      directory first and leaves it behind, empty, at every first build.)"""

  class ArithmeticProblems(tfds.core.GeneratorBasedBuilder):
    """Canonical arithmetic problems; the config name encodes the spec."""

    VERSION = tfds.core.Version(VERSION)

    def __init__(self, *, spec: DatasetSpec, **kwargs):
      self._spec = spec
      super().__init__(config=spec.name, **kwargs)

    @classmethod
    def get_builder_config(cls, name, version=None):
      """Every spec is its own config, so there is no list to look a name
      up in (and a config TFDS cannot find there, it logs as 'custom')."""
      del version
      return tfds.core.BuilderConfig(name=name)

    # One line of our own instead of TFDS's two, which speak of a download.
    def _log_download_bytes(self) -> None:
      print(f"building the arithmetic dataset {self.builder_config.name} "
            f"in {self.data_dir} (once: later runs read it)", flush=True)

    def _log_download_done(self) -> None:
      pass

    def _info(self):
      features = tfds.features.FeaturesDict({
          "a": tfds.features.Text(), "b": tfds.features.Text(),
          "carries": np.int32, "len_a": np.int32, "len_b": np.int32})
      return LocalInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
      del dl_manager
      train, test = generate(self._spec)
      return {"train": self._generate_examples(train),
              "test": self._generate_examples(test)}

    def _generate_examples(self, pairs):
      for i, (a, b) in enumerate(pairs):
        yield i, {"a": str(a), "b": str(b),
                  "carries": problems.carries(a, b, self._spec.train.op),
                  "len_a": problems.digits(a), "len_b": problems.digits(b)}

  return ArithmeticProblems


def read_split(source) -> tuple[tuple[int, int], ...]:
  rows = source.__getitems__(list(range(len(source))))
  return tuple((int(r["a"]), int(r["b"])) for r in rows)


@functools.lru_cache(maxsize=16)
def load(spec: DatasetSpec, data_dir: str = "") -> Dataset:
  """Builds the dataset under ``data_dir`` (once) and reads it back."""
  import tensorflow_datasets as tfds
  tfds.disable_progress_bar()
  data_dir = data_dir or default_data_dir()
  builder = _builder_class()(spec=spec, data_dir=data_dir,
                             file_format="array_record")
  builder.download_and_prepare()
  source = builder.as_data_source()
  train, test = read_split(source["train"]), read_split(source["test"])
  if set(train) & set(test):  # guaranteed by generate(); checked on read
    raise RuntimeError(f"dataset {builder.data_dir} has problems in both "
                       "splits; delete it and rebuild")
  digest = hashlib.sha256()
  for split in (train, test):
    digest.update("\n".join(f"{a},{b}" for a, b in split).encode())
    digest.update(b"|")
  return Dataset(name=f"arithmetic_problems/{spec.name}", version=VERSION,
                 checksum=digest.hexdigest(), path=builder.data_dir,
                 train=train, test=test)
