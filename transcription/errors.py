"""Errors of the transcription package."""

from __future__ import annotations


class TranscriptionError(Exception):
    """Base class for errors raised by ``transcription``."""


class ModelUnavailable(TranscriptionError):
    """No usable Vosk model for a language: missing, unreadable or rejected by libvosk."""


class TranscriptRejected(TranscriptionError):
    """A typed or corrected transcript that cannot be stored (empty, too long, no recording)."""
