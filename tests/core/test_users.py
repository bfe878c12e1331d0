"""People who log in, on SQLite and PostgreSQL: a new password ends her access, only hers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import Database
from core.models import ApiToken, User, WebSession
from core.states import UserRole
from core.users import create_user, reset_password

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _access(db: Database, username: str) -> None:
    """A browser session and a bearer token of ``username``, both live."""
    with db.transaction() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        s.add(
            WebSession(
                token_hash=f"session-{username}",
                user_id=user.id,
                created_at=T0,
                last_seen_at=T0,
                expires_at=T0 + timedelta(hours=12),
            )
        )
        s.add(
            ApiToken(
                user_id=user.id,
                token_hash=f"token-{username}",
                prefix="dsbt_x",
                created_at=T0,
            )
        )


def _live(db: Database) -> dict[str, list[str]]:
    with db.read_session() as s:
        return {
            "sessions": sorted(
                s.scalars(select(WebSession.token_hash).where(WebSession.revoked_at.is_(None)))
            ),
            "tokens": sorted(
                s.scalars(select(ApiToken.token_hash).where(ApiToken.revoked_at.is_(None)))
            ),
        }


def test_a_new_password_ends_her_sessions_and_tokens_and_nobody_elses(db: Database) -> None:
    with db.transaction() as s:
        create_user(s, username="maria", role=UserRole.case_worker, now=T0)
        create_user(s, username="sri", role=UserRole.case_worker, now=T0)
    _access(db, "maria")
    _access(db, "sri")
    with db.transaction() as s:
        maria = s.scalars(select(User).where(User.username == "maria")).one()
        maria.locked_until = T0 + timedelta(minutes=15)
        reset_password(s, "maria", now=T0 + timedelta(minutes=1))
    assert _live(db) == {"sessions": ["session-sri"], "tokens": ["token-sri"]}
    with db.read_session() as s:
        maria = s.scalars(select(User).where(User.username == "maria")).one()
        assert maria.locked_until is None
        ended = s.scalars(select(WebSession).where(WebSession.user_id == maria.id)).one()
        assert ended.revoked_at == T0 + timedelta(minutes=1)
