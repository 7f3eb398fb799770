"""Run-once programs name only the XLA options this XLA knows."""

import jax.numpy as jnp

from icl import once


def test_an_option_this_xla_does_not_know_is_left_out(monkeypatch):
  monkeypatch.setattr(once, "CPU_OPTIONS", {
      "xla_backend_optimization_level": 0, "xla_no_such_option": True})
  once.cpu_options.cache_clear()
  try:
    assert once.cpu_options() == {"xla_backend_optimization_level": 0}
    assert once.xla_flags() == "--xla_backend_optimization_level=0"
    assert once.compiler_options() == {"xla_backend_optimization_level": 0}
    # A run-once program compiles and runs with what is left.
    assert float(once.jit(lambda x: x.sum())(jnp.arange(4.0))) == 6.0
  finally:
    once.cpu_options.cache_clear()
