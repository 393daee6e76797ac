"""The installed emblab version (one place; the package, artifacts and results read it)."""

__version__ = "0.1.0"
