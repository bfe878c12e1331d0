"""Composition root: the ``desbumi`` command and the process runner."""

__version__ = "0.1.0"
