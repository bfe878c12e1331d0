"""Admins manage the people who log in: add, new password, deactivate, reactivate.

Passwords are generated (core.users) and shown once. A new password or a deactivation
ends the user's web sessions and revokes her API tokens at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from admin_api import audit
from admin_api.auth import Principal
from admin_api.errors import Conflict, Invalid, NotFound
from core.models import District, User
from core.states import UserRole
from core.users import UserError, create_user, end_access, reset_password


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(
        select(User).order_by(User.username).options(selectinload(User.districts))
    ).all()


def add_user(
    session: Session,
    principal: Principal,
    *,
    username: str,
    role: UserRole,
    district_codes: Sequence[str],
    full_name: str,
    now: datetime,
    source: str,
) -> tuple[User, str]:
    username = username.strip()
    if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise Invalid("a username is letters, digits, '.', '-' or '_'")
    try:
        user, password = create_user(
            session,
            username=username,
            role=role,
            now=now,
            district_codes=district_codes,
            full_name=full_name.strip(),
            actor="user",
        )
    except UserError as exc:
        raise Conflict(str(exc)) from None
    audit.record(
        session,
        principal,
        "user.create",
        now=now,
        source=source,
        object_type="user",
        object_id=user.id,
        details={"role": str(role), "districts": list(district_codes)},
    )
    return user, password


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def new_password(
    session: Session, principal: Principal, user_id: int, *, now: datetime, source: str
) -> tuple[User, str]:
    """A generated password (shown once); unlocks the account, ends its sessions and
    tokens: all of them, or, when an admin gives herself one, all but the one she is
    using (as when she changes her own on her account page)."""
    user = _user(session, user_id)
    keep = principal.credential_hash if user.id == principal.user_id else ""
    password = reset_password(session, user.username, now=now, actor="user", keep=keep)
    audit.record(
        session,
        principal,
        "user.set_password",
        now=now,
        source=source,
        object_type="user",
        object_id=user.id,
    )
    return user, password


def set_active(
    session: Session,
    principal: Principal,
    user_id: int,
    active: bool,
    *,
    now: datetime,
    source: str,
) -> User:
    user = _user(session, user_id)
    if user.id == principal.user_id and not active:
        raise Conflict("you cannot deactivate yourself")
    user.is_active = active
    if not active:
        end_access(session, user.id, now=now)
    audit.record(
        session,
        principal,
        "user.activate" if active else "user.deactivate",
        now=now,
        source=source,
        object_type="user",
        object_id=user.id,
    )
    return user


def district_choices(session: Session) -> Sequence[District]:
    return session.scalars(select(District).order_by(District.name)).all()
