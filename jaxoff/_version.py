"""The single source of jaxoff's version (read by pyproject.toml and `jaxoff --version`)."""

__version__ = "0.2.0.dev0"
