"""`seals`: the command line, a thin layer over the library (see app.py)."""

from sealsearch.cli.app import app

__all__ = ["app"]
