"""Errors the user can fix by changing input."""

from typing import Any


class ConfigError(ValueError):
  """A config field has a bad value; the message names field, value and what
  is allowed. Raised before anything compiles."""


def invalid(field: str, value: Any, allowed: str) -> ConfigError:
  """``ConfigError('{field} must be {allowed}, got {value!r}')``."""
  return ConfigError(f"{field} must be {allowed}, got {value!r}")
