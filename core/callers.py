"""Callers: found again by a keyed hash of their number, stored only encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Caller
from core.security import InvalidPhoneNumber, PhoneVault


def find_caller(session: Session, vault: PhoneVault, number: str) -> Caller | None:
    """The caller with this number, or None. Raises InvalidPhoneNumber for non-numbers."""
    return session.scalar(select(Caller).where(Caller.phone_hash == vault.lookup_hash(number)))


def register_caller(
    session: Session, vault: PhoneVault, number: str, *, now: datetime, language: str = "id"
) -> Caller:
    """Find the caller by number or add her; ``last_seen_at`` becomes ``now`` either way."""
    caller = find_caller(session, vault, number)
    if caller is None:
        caller = Caller(
            phone_encrypted=vault.encrypt(number),
            phone_hash=vault.lookup_hash(number),
            preferred_language=language,
            first_seen_at=now,
            last_seen_at=now,
        )
        session.add(caller)
        session.flush()
    else:
        caller.last_seen_at = now
    return caller


def caller_for_number(
    session: Session, vault: PhoneVault, number: str | None, *, now: datetime
) -> Caller | None:
    """:func:`register_caller` for a number from the network, which may be withheld or not
    a number at all ("anonymous", "unknown"): then the call is anonymous and this is None."""
    if not number:
        return None
    try:
        return register_caller(session, vault, number, now=now)
    except InvalidPhoneNumber:
        return None
