"""People who log in, on SQLite and PostgreSQL: a new password ends her access, only hers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import Database
from core.models import User, WebSession
from core.states import UserRole
from core.users import create_user, reset_password
from tests.access import give_access, live_access

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_new_password_ends_her_sessions_and_tokens_and_nobody_elses(db: Database) -> None:
    with db.transaction() as s:
        create_user(s, username="maria", role=UserRole.case_worker, now=T0)
        create_user(s, username="sri", role=UserRole.case_worker, now=T0)
    give_access(db, "maria", T0)
    give_access(db, "sri", T0)
    with db.transaction() as s:
        maria = s.scalars(select(User).where(User.username == "maria")).one()
        maria.locked_until = T0 + timedelta(minutes=15)
        reset_password(s, "maria", now=T0 + timedelta(minutes=1))
    assert live_access(db) == {"sessions": ["session-sri"], "tokens": ["token-sri"]}
    with db.read_session() as s:
        maria = s.scalars(select(User).where(User.username == "maria")).one()
        assert maria.locked_until is None
        ended = s.scalars(select(WebSession).where(WebSession.user_id == maria.id)).one()
        assert ended.revoked_at == T0 + timedelta(minutes=1)
