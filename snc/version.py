"""The package version, in a module of its own so that any layer can name it without importing ``snc``'s
public API (pyproject.toml reads it from here)."""

__version__ = "0.1.0"
