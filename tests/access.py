"""Test helpers: a user's live browser sessions and API tokens, made and read back."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.db import Database
from core.models import ApiToken, User, WebSession


def give_access(db: Database, username: str, now: datetime) -> None:
    """A browser session ``session-<name>`` and a token ``token-<name>``, both live."""
    with db.transaction() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        s.add(
            WebSession(
                token_hash=f"session-{username}",
                user_id=user.id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=12),
            )
        )
        s.add(
            ApiToken(
                user_id=user.id, token_hash=f"token-{username}", prefix="dsbt_x", created_at=now
            )
        )


def live_access(db: Database) -> dict[str, list[str]]:
    """The stored hashes of every session and token not revoked."""
    with db.read_session() as s:
        return {
            "sessions": sorted(
                s.scalars(select(WebSession.token_hash).where(WebSession.revoked_at.is_(None)))
            ),
            "tokens": sorted(
                s.scalars(select(ApiToken.token_hash).where(ApiToken.revoked_at.is_(None)))
            ),
        }
