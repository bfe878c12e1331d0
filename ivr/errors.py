"""Errors of the hotline package."""

from __future__ import annotations


class IvrError(Exception):
    """Base class for errors raised by ``ivr``."""


class CallHungUp(IvrError):
    """The caller hung up or the AGI socket closed; the call task ends quietly."""


class AgiProtocolError(IvrError):
    """Asterisk (or something pretending to be it) sent what AGI does not allow."""


class AmiUnavailable(IvrError):
    """The Asterisk Manager Interface cannot be reached or refused the login."""


class PromptUnavailable(IvrError):
    """Asterisk could not play a prompt (missing or unreadable file); the caller is still on
    the line, so the flow must play something else rather than end in silence."""


class AmiActionFailed(IvrError):
    """Asterisk answered an AMI action with an error (the message says which)."""
