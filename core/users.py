"""People who log in: creation and password changes, each written to the audit log.

A new password (from an admin's page, the API or ``desbumi user set-password``) ends the
user's browser sessions and revokes her API tokens at once: whoever knew the old one is
out. Nobody else's access changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import CoreError
from core.models import ApiToken, AuditEvent, District, User, WebSession
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


def end_access(
    session: Session, user_id: int, *, now: datetime, keep: str = "", tokens: bool = True
) -> None:
    """End every browser session and, with ``tokens``, revoke every API token of one user,
    except the one whose stored hash is ``keep`` (the request she is making herself)."""
    session.execute(
        update(WebSession)
        .where(
            WebSession.user_id == user_id,
            WebSession.revoked_at.is_(None),
            WebSession.token_hash != keep,
        )
        .values(revoked_at=now)
    )
    if not tokens:
        return
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
            ApiToken.token_hash != keep,
        )
        .values(revoked_at=now)
    )


def reset_password(
    session: Session, username: str, *, now: datetime, actor: str = "cli", keep: str = ""
) -> str:
    """Give the user a new generated password, unlock her and end her sessions and tokens
    (all but ``keep``, see :func:`end_access`); returns the password (show once)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user {username!r}")
    password = generate_password()
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    end_access(session, user.id, now=now, keep=keep)
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
