"""Frozen finite datasets: TFDS array_record builders, read without
TensorFlow."""
