"""Errors of the audio package."""

from __future__ import annotations


class AudioError(Exception):
    """Base class for errors raised by ``audio``."""


class ToolMissing(AudioError):
    """An external program (ffmpeg, sox, espeak-ng) is not installed or does not run."""


class AudioUnreadable(AudioError):
    """ffmpeg cannot decode the file: zero length, cut short, or not audio."""
