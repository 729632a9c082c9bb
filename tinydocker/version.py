"""This tinydocker's version (pyproject.toml says the same), apart so that the API can read it
without importing the package's face."""

__version__ = "0.1.0"
