"""Counting what JAX traces and compiles, from its monitoring events.

The benchmark reports how many programs an evaluation compiled, and tests
check that a program is shared (compiled or traced once) rather than timing
it.
"""

from __future__ import annotations

import contextlib

# One event per program lowered (a miss in jit's cache; jax 0.8.1 also
# records a trace event for every jitted function called inside a program,
# 0.10.2 does not, so lowering is what counts programs), one per XLA
# compile (a hit in the persistent compilation cache records none).
LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def collect(name: str):
  """Yields a list that collects the duration, in seconds, of every
  ``name`` event JAX records in the block."""
  from jax import monitoring  # importing this module starts no backend
  seen = []

  def listen(event, duration, **_):
    if event == name:
      seen.append(duration)

  monitoring.register_event_duration_secs_listener(listen)
  try:
    yield seen
  finally:
    monitoring.unregister_event_duration_listener(listen)
