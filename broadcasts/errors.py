"""Errors of the broadcasts package.

Each has a stable ``code`` (admin_api maps it to an HTTP status and returns it as is) and
a message fit to show an editor or a station operator.
"""

from __future__ import annotations


class BroadcastError(Exception):
    """Base class for errors raised by ``broadcasts``."""

    code = "broadcast_error"


class NotFound(BroadcastError):
    """The content item, programme, slot, station or segment does not exist."""

    code = "not_found"


class InvalidContent(BroadcastError):
    """A field of a content item, programme or slot is missing or wrong; the message names it."""

    code = "invalid_content"


class ContentStateError(BroadcastError):
    """The item is not in a state that allows this (e.g. submitting an approved item)."""

    code = "content_state"


class ContentImmutable(ContentStateError):
    """An approved (or retired) version cannot change; make a new version instead."""

    code = "content_immutable"


class NotPermitted(BroadcastError):
    """The acting user may not do this: not an editor, or the four-eyes rule."""

    code = "not_permitted"


class RecordingRejected(BroadcastError):
    """An uploaded recording is too large, too long, too short or not audio at all."""

    code = "recording_rejected"


class SegmentStateError(BroadcastError):
    """The segment is not in a state that allows this (aired, cancelled, past, built)."""

    code = "segment_state"


class AssemblyError(BroadcastError):
    """A segment could not be assembled (missing audio, an encoder failure)."""

    code = "assembly_failed"


class StationAuthFailed(BroadcastError):
    """A wrong, missing or revoked station key. Deliberately says nothing more."""

    code = "unauthorised"
