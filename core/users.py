"""People who log in: creation and password changes, each written to the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import CoreError
from core.models import AuditEvent, District, User
from core.security import generate_password, hash_password
from core.states import UserRole


class UserError(CoreError):
    """A user cannot be created or changed as asked; the message says why."""


def create_user(
    session: Session,
    *,
    username: str,
    role: UserRole,
    now: datetime,
    district_codes: Sequence[str] = (),
    full_name: str = "",
    actor: str = "cli",
) -> tuple[User, str]:
    """Add a user with a generated password; returns the user and the password (show once)."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} exists already")
    districts = []
    for code in district_codes:
        district = session.scalar(select(District).where(District.code == code))
        if district is None:
            raise UserError(f"no district with code {code!r}")
        districts.append(district)
    password = generate_password()
    user = User(
        username=username,
        full_name=full_name,
        role=role,
        password_hash=hash_password(password),
        districts=districts,
        created_at=now,
    )
    session.add(user)
    session.add(
        AuditEvent(
            at=now,
            actor_kind=actor,
            action="user.create",
            object_type="user",
            object_id=username,
            details={"role": str(role), "districts": list(district_codes)},
        )
    )
    session.flush()
    return user, password


def reset_password(session: Session, username: str, *, now: datetime, actor: str = "cli") -> str:
    """Give the user a new generated password and unlock her; returns it (show once)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user {username!r}")
    password = generate_password()
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    session.add(
        AuditEvent(
            at=now,
            actor_kind=actor,
            action="user.set_password",
            object_type="user",
            object_id=username,
        )
    )
    return password
