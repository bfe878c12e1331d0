"""Errors mapped to HTTP: each has a stable ``code`` and a human message.

Services in admin_api raise these (or core errors, mapped in :mod:`admin_api.app`); the
message is safe to show: it never holds a phone number or a transcript.
"""

from __future__ import annotations


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
