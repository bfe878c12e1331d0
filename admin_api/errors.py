"""Errors mapped to HTTP: each has a stable ``code`` and a human message."""

from __future__ import annotations


class ApiError(Exception):
    status_code = 400
    code = "bad_request"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
