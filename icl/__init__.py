"""icl: a JAX framework for in-context learning and length generalization."""

__version__ = "0.1.0"
