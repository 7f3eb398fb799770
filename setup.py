"""The repository's configs/ and experiments/ install as icl.configs and
icl.experiments: no top-level names that could collide with another
project's, and the folders stay where a reader looks for them."""

import setuptools

setuptools.setup(
    packages=(setuptools.find_packages(include=["icl", "icl.*"])
              + ["icl.configs", "icl.experiments"]),
    package_dir={"icl.configs": "configs", "icl.experiments": "experiments"},
)
