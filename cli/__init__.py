"""The ``edx`` command line. Its public surface is the ``edx`` console script."""

from cli.main import cli, main

__all__ = ["cli", "main"]
