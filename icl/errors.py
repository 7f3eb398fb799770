"""Errors the user can fix by changing input."""


class ConfigError(ValueError):
  """A config field has a bad value; the message names field, value and what
  is allowed. Raised before anything compiles."""
