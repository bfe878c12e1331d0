"""Errors mapped to HTTP: each has a stable ``code`` and a human message.

Services in admin_api raise these (or core errors, mapped in :mod:`admin_api.app`); the
message is safe to show: it never holds a phone number or a transcript.
"""

from __future__ import annotations

from broadcasts import errors as broadcast_errors
from broadcasts.errors import BroadcastError


class ApiError(Exception):
    status_code = 400
    code = "bad_request"


class NotAuthenticated(ApiError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class CsrfFailed(Forbidden):
    code = "csrf_failed"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Invalid(ApiError):
    status_code = 422
    code = "invalid"


class AccountLocked(ApiError):
    status_code = 423
    code = "account_locked"


class TooManyAttempts(ApiError):
    status_code = 429
    code = "too_many_attempts"


def from_broadcast(exc: BroadcastError) -> ApiError:
    """The HTTP face of an error of the content library or the radio: its own code and
    message, with the status that fits (four eyes is 403, a wrong field 422)."""
    error = ApiError(str(exc))
    error.code = exc.code
    error.status_code = next(
        (status for kind, status in _BROADCAST_STATUS if isinstance(exc, kind)), 409
    )
    return error


_BROADCAST_STATUS: tuple[tuple[type[BroadcastError], int], ...] = (
    (broadcast_errors.NotFound, 404),
    (broadcast_errors.NotPermitted, 403),
    (broadcast_errors.InvalidContent, 422),
    (broadcast_errors.RecordingRejected, 422),
    (broadcast_errors.StationAuthFailed, 401),
)
