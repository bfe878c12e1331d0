"""Errors of the core package. Every package has one base class; admin_api maps them to HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class CoreError(Exception):
    """Base class for errors raised by ``core``."""


class ConfigurationError(CoreError):
    """The installation is misconfigured; the message says what to change."""


class DatabaseUnavailable(ConfigurationError):
    """The database cannot be reached or is not migrated."""


class InvalidTransition(CoreError):
    """A state machine was asked to move along an edge it does not have."""

    def __init__(self, machine: str, current: str, target: str) -> None:
        super().__init__(f"{machine}: cannot go from {current!r} to {target!r}")
        self.machine = machine
        self.current = current
        self.target = target


class LeaseLost(CoreError):
    """A job's lease expired and another worker took it; this worker's result is void."""


class _JobOutcome(CoreError):
    """A handler's outcome other than success, with an optional effect.

    ``effect(session)`` is committed in the same transaction as the job's new state, e.g.
    flagging a recording "unreadable" exactly when its job is dead-lettered.
    """

    def __init__(self, message: str, effect: Callable[[Any], None] | None = None) -> None:
        super().__init__(message)
        self.effect = effect


class JobFailed(_JobOutcome):
    """Raised by a job handler for an error that retrying cannot fix (dead-letter now)."""


class JobHeld(_JobOutcome):
    """Raised by a job handler when the job waits on something outside (e.g. a speech model).

    The job is parked in the ``held`` state with the message as reason, is not retried, and
    goes back to the queue when :func:`core.queue.release_held` is called.
    """
