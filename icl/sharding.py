"""The device mesh and the logical-axis rules, both from ``config.mesh``.

    mesh.shape = {data: -1, fsdp: 1, tensor: 1}   # -1: the devices left over
    mesh.rules = {batch: "data,fsdp", embed: "fsdp", mlp: "tensor", kv: "", ...}

Every parameter carries logical axis names (``embed``, ``heads``, ``kv``,
``mlp``, ``vocab``); activations are constrained as (``batch``, ``seq``,
``embed``); an ensemble adds a leading ``ensemble`` axis. A rule maps a
logical name to mesh axes ("" keeps it unsharded). A mesh axis shards at most
one dimension of an array: earlier rules claim it first (Flax's semantics),
which is why ``batch`` comes before ``embed`` and activations are sharded by
batch while parameters are sharded by ``embed`` over ``fsdp``.

The defaults are plain data parallelism, which is one device unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from icl.errors import ConfigError

LOGICAL_AXES = ("ensemble", "batch", "seq", "embed", "heads", "kv", "mlp",
                "vocab")


def default_shape() -> dict[str, int]:
  return {"data": -1, "fsdp": 1, "tensor": 1}


def default_rules() -> dict[str, str]:
  return {"ensemble": "", "batch": "data,fsdp", "seq": "", "embed": "fsdp",
          "heads": "tensor", "kv": "", "mlp": "tensor", "vocab": "tensor"}


def section():
  """A ``config.mesh`` section: data parallel over every device (right for
  one device too)."""
  return ml_collections.ConfigDict(dict(shape=default_shape(),
                                        rules=default_rules()))


def validate(mesh_cfg, num_devices: int) -> None:
  """Checks ``config.mesh`` against the devices it must fill."""
  sizes = axis_sizes(dict(mesh_cfg.shape), num_devices)
  parse_rules(dict(mesh_cfg.rules), tuple(sizes))


def axis_sizes(shape: dict[str, int], num_devices: int) -> dict[str, int]:
  """Resolves a -1 size to the devices left; checks the product."""
  for name, size in shape.items():
    if not isinstance(size, int) or isinstance(size, bool) or (
        size < 1 and size != -1):
      raise ConfigError(f"mesh.shape.{name} must be a positive int or -1 "
                        f"(the devices left over), got {size!r}")
  free = [n for n, s in shape.items() if s == -1]
  if len(free) > 1:
    raise ConfigError(f"mesh.shape must have at most one axis of size -1, got "
                      f"{dict(shape)!r}")
  fixed = math.prod(s for s in shape.values() if s != -1)
  if free and num_devices % fixed == 0:
    return {n: (num_devices // fixed if s == -1 else s)
            for n, s in shape.items()}
  if not free and fixed == num_devices:
    return dict(shape)
  raise ConfigError(
      f"mesh.shape must have axis sizes whose product is the device count "
      f"{num_devices}, got {dict(shape)!r} (product {fixed}"
      f"{' times the -1 axis' if free else ''}); e.g. "
      f"mesh.shape.data=-1 takes every device")


def parse_rules(rules: dict[str, str], mesh_axes: Sequence[str]
                ) -> dict[str, tuple[str, ...]]:
  """``{"batch": "data,fsdp"}`` -> ``{"batch": ("data", "fsdp")}``, checked."""
  parsed = {}
  for logical, value in rules.items():
    if logical not in LOGICAL_AXES:
      raise ConfigError(f"mesh.rules.{logical} must name a logical axis, one "
                        f"of {list(LOGICAL_AXES)}, got {logical!r}")
    if not isinstance(value, str):
      raise ConfigError(f"mesh.rules.{logical} must be a string of mesh axes "
                        f"such as 'data,fsdp' ('' = unsharded), got {value!r}")
    axes = tuple(a.strip() for a in value.split(",") if a.strip())
    for axis in axes:
      if axis not in mesh_axes:
        raise ConfigError(f"mesh.rules.{logical} must use axes of mesh.shape "
                          f"{list(mesh_axes)}, got {value!r} (unknown axis "
                          f"{axis!r})")
    if len(set(axes)) != len(axes):
      raise ConfigError(f"mesh.rules.{logical} must not repeat a mesh axis, "
                        f"got {value!r}")
    parsed[logical] = axes
  return parsed


class Layout:
  """A mesh plus rules: turns logical axis names into shardings.

  For an ensemble, the mesh axes of the ``ensemble`` rule shard the leading
  model axis and are removed from every other rule, so inside one member
  (under ``vmap(spmd_axis_name=...)``) they are never claimed twice.
  """

  def __init__(self, mesh: jax.sharding.Mesh,
               rules: dict[str, tuple[str, ...]]):
    self.mesh = mesh
    self.sizes = dict(zip(mesh.axis_names, mesh.devices.shape))
    self.ensemble_axes = rules.get("ensemble", ())
    self.member_rules = tuple(
        (name, tuple(a for a in axes if a not in self.ensemble_axes) or None)
        for name, axes in rules.items() if name != "ensemble")

  def spec(self, logical: Sequence[str | None]) -> P:
    """PartitionSpec of one array inside a member."""
    return nn.logical_to_mesh_axes(tuple(logical), self.member_rules)

  def sharding(self, logical: Sequence[str | None], ensemble: bool = False
               ) -> NamedSharding:
    spec = tuple(self.spec(logical))
    if ensemble:
      spec = (self.ensemble_axes or None,) + spec
    return NamedSharding(self.mesh, P(*spec))

  def tree_shardings(self, logical_tree: Any, ensemble: bool = False) -> Any:
    """NamedShardings for a tree of logical specs (``nn.get_partition_spec``);
    leaves without names (step counters, scalars) are replicated."""
    return jax.tree.map(
        lambda spec: self.sharding(tuple(spec or ()), ensemble),
        logical_tree, is_leaf=lambda x: isinstance(x, P) or x is None)

  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())

  def shards(self, spec_entry) -> int:
    """How many ways a dimension with this PartitionSpec entry is split."""
    return _ways(spec_entry, self.sizes)

  def rule_context(self):
    """Flax logical-rules context for tracing a member's computation."""
    return nn.logical_axis_rules(self.member_rules)


def build_layout(mesh_cfg, devices: Sequence[Any] | None = None) -> Layout:
  devices = list(devices if devices is not None else jax.devices())
  sizes = axis_sizes(dict(mesh_cfg.shape), len(devices))
  rules = parse_rules(dict(mesh_cfg.rules), tuple(sizes))
  mesh = jax.make_mesh(tuple(sizes.values()), tuple(sizes),
                       axis_types=(AxisType.Auto,) * len(sizes),
                       devices=devices)
  return Layout(mesh, rules)


def check_divisible(layout: Layout, abstract_tree: Any, sharding_tree: Any,
                    logical_tree: Any, ensemble: bool, what: str) -> None:
  """Every sharded dimension must split evenly over its mesh axes.

  ``logical_tree`` holds each leaf's logical names (for one member; an
  ensemble's leaves have the ``ensemble`` axis in front).
  """
  shardings = jax.tree.leaves(sharding_tree,
                              is_leaf=lambda x: isinstance(x, NamedSharding))
  names = jax.tree.leaves(logical_tree,
                          is_leaf=lambda x: isinstance(x, P) or x is None)
  leaves = jax.tree_util.tree_leaves_with_path(abstract_tree)
  for (path, leaf), sharding, logical in zip(leaves, shardings, names):
    logical = (("ensemble",) if ensemble else ()) + tuple(logical or ())
    for dim, (size, entry) in enumerate(zip(leaf.shape, sharding.spec)):
      ways = layout.shards(entry)
      if size % ways:
        name = "/".join(str(getattr(k, "key", getattr(k, "name", k)))
                        for k in path)
        raise ConfigError(
            f"mesh.rules.{logical[dim]} must split every dimension it shards "
            f"evenly: {what} {name} has dimension {dim} "
            f"({logical[dim]}) of size {size}, which mesh axes {entry!r} "
            f"(size {ways}) do not divide; change mesh.shape or "
            f"mesh.rules.{logical[dim]}")


def check_batch(layout: Layout, field: str, batch_size: int) -> None:
  ways = layout.shards(layout.spec(("batch",))[0])
  if batch_size % ways:
    raise ConfigError(f"{field} must be divisible by the {ways} batch shards "
                      f"(mesh axes {layout.spec(('batch',))[0]!r}), got "
                      f"{batch_size}")


def batch_shards() -> int:
  """How many ways the active mesh and rules split ``batch`` (1 outside a
  mesh): what a per-device share of rows must be a multiple of."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return 1
  return _ways(nn.logical_to_mesh_axes(("batch",))[0], mesh.shape)


def _ways(spec_entry, sizes) -> int:
  """How many ways a PartitionSpec entry splits a dimension, for mesh axis
  ``sizes`` {name: size}."""
  if spec_entry is None:
    return 1
  names = (spec_entry,) if isinstance(spec_entry, str) else spec_entry
  return math.prod(sizes[n] for n in names)


def constrain_batch(tree: Any) -> Any:
  """Shards every leaf's leading dimension as ``batch`` (under the rules)."""
  return jax.tree.map(
      lambda x: nn.with_logical_constraint(
          x, ("batch",) + (None,) * (np.ndim(x) - 1)), tree)


def replicate(tree: Any) -> Any:
  """Constrains every leaf to be replicated (readable by every host)."""
  return jax.tree.map(
      lambda x: nn.with_logical_constraint(x, (None,) * np.ndim(x)), tree)


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """Joins a multi-host run; with no arguments the cluster is auto-detected
  (TPU pods, SLURM, ...). Must run before any other JAX call."""
  # CPU processes need a collectives backend to talk to each other; the
  # setting is ignored by GPU and TPU backends.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes,
                             process_id=process_id)


def is_writer() -> bool:
  """Only process 0 writes metrics, results and configs."""
  return jax.process_index() == 0
