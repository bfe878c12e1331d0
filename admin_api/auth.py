"""Logging in: passwords, lockout, web sessions, API tokens, CSRF tokens, rate limits.

Session cookies and bearer tokens are random strings shown to the client once; the
database keeps only their SHA-256, so a copy of the database opens nothing. CSRF tokens
are an HMAC of the cookie they belong to: nothing to store, and a token taken from one
browser is useless in another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from admin_api.errors import AccountLocked, NotAuthenticated, TooManyAttempts
from core.models import ApiToken, AuditEvent, User, WebSession
from core.security import hash_password, verify_password
from core.settings import WebSettings
from core.states import UserRole

TOKEN_PREFIX = "dsbt_"  # noqa: S105 - a prefix, not a secret
# Verified against for unknown usernames, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_password("not-a-real-password-0000")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def session_hash(raw: str) -> str:
    """What the database keeps of a session cookie or a token."""
    return _digest(raw)


@dataclass(frozen=True)
class Principal:
    """Who makes a request: detached from any session, safe to pass around."""

    user_id: int
    username: str
    full_name: str
    role: UserRole
    district_ids: frozenset[int]
    language: str
    # "session" (a browser cookie) or "token" (a bearer token).
    via: str
    # The raw cookie of a browser session (for its CSRF token); empty for tokens.
    session_token: str = ""
    # What the database keeps of the cookie or token this request came with.
    credential_hash: str = ""

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


def _principal(user: User, via: str, raw: str) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        district_ids=frozenset(d.id for d in user.districts),
        language=user.language,
        via=via,
        session_token=raw if via == "session" else "",
        credential_hash=_digest(raw),
    )


class LoginRateLimiter:
    """At most ``per_minute`` login attempts from one address per minute, in this process.

    Account lockout (in the database) stops guessing one account from many addresses;
    this stops one address from trying many accounts.
    """

    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, source: str) -> None:
        """Count one attempt; raise TooManyAttempts past the limit."""
        now = self._monotonic()
        with self._lock:
            window = self._attempts.setdefault(source, deque())
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= self.per_minute:
                raise TooManyAttempts("too many login attempts from this address; wait a minute")
            window.append(now)
            if len(self._attempts) > 10_000:
                # Forget idle addresses so a scan cannot grow this without bound.
                for key in [k for k, v in self._attempts.items() if not v or v[-1] < now - 60]:
                    del self._attempts[key]


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    source: str,
    settings: WebSettings,
) -> User:
    """The user with this name and password, or NotAuthenticated / AccountLocked.

    A wrong password counts towards the lockout; the lockout is lifted by its time or by
    ``desbumi user set-password``. Every outcome is written to the audit log.
    """
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.is_active:
        verify_password(_DUMMY_HASH, password)
        _audit_login(session, None, "auth.login_failed", now, source, {"reason": "unknown"})
        raise NotAuthenticated("wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        _audit_login(session, user.id, "auth.login_locked", now, source, {})
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise AccountLocked(
            f"too many failed logins: this account is locked for {minutes} more minute(s)"
        )
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        details: dict[str, object] = {"failed_logins": user.failed_logins}
        if user.failed_logins >= settings.lockout_after:
            user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
            user.failed_logins = 0
            details["locked_until"] = user.locked_until.isoformat()
        _audit_login(session, user.id, "auth.login_failed", now, source, details)
        raise NotAuthenticated("wrong username or password")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    _audit_login(session, user.id, "auth.login", now, source, {})
    return user


def _audit_login(
    session: Session,
    user_id: int | None,
    action: str,
    now: datetime,
    source: str,
    details: dict[str, object],
) -> None:
    session.add(
        AuditEvent(
            at=now,
            actor_user_id=user_id,
            actor_kind="user",
            action=action,
            object_type="user",
            object_id=str(user_id or ""),
            source=source,
            details=details,
        )
    )


def open_web_session(
    session: Session, user: User, *, now: datetime, source: str, settings: WebSettings
) -> str:
    """A new browser session for ``user``; returns the cookie value (shown once)."""
    raw = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_digest(raw),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_hours),
            source=source[:64],
        )
    )
    return raw


def resolve_web_session(
    session: Session, raw: str, *, now: datetime, settings: WebSettings
) -> tuple[Principal | None, bool]:
    """The principal of a live session cookie, or None (unknown, expired, idle, revoked),
    and whether its ``last_seen_at`` is over a minute old (see :func:`touch`).

    Read-only, so reading pages takes no write lock on SQLite.
    """
    # One query for the session, its user and her districts: this runs on every request.
    row = session.scalar(
        select(WebSession)
        .where(WebSession.token_hash == _digest(raw))
        .options(joinedload(WebSession.user).joinedload(User.districts))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None, False
    if row.last_seen_at + timedelta(minutes=settings.idle_minutes) <= now:
        return None, False
    user = row.user
    # A deactivated user's sessions end at once. A lockout after wrong passwords stops new
    # logins only: anyone who knows a case worker's user name could otherwise log her out,
    # mid-case, by typing wrong passwords. An admin's new password for her ends them all.
    if not user.is_active:
        return None, False
    return _principal(user, "session", raw), now - row.last_seen_at > timedelta(minutes=1)


def touch(session: Session, principal: Principal, raw: str, *, now: datetime) -> None:
    """Record that a session or token was used now (idle timeout, "last used")."""
    if principal.via == "session":
        session.execute(
            update(WebSession).where(WebSession.token_hash == _digest(raw)).values(last_seen_at=now)
        )
    else:
        session.execute(
            update(ApiToken).where(ApiToken.token_hash == _digest(raw)).values(last_used_at=now)
        )


def revoke_web_session(session: Session, raw: str, *, now: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == _digest(raw), WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def issue_api_token(
    session: Session, user: User, *, name: str, now: datetime, days: int | None
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user``; returns the row and the token (shown once)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name[:64],
        token_hash=_digest(raw),
        prefix=raw[:12],
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    session.add(row)
    session.flush()
    return row, raw


def resolve_api_token(
    session: Session, raw: str, *, now: datetime
) -> tuple[Principal | None, bool]:
    """Like :func:`resolve_web_session`, for a bearer token."""
    row = session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == _digest(raw))
        .options(joinedload(ApiToken.user).joinedload(User.districts))
    )
    if row is None or row.revoked_at is not None:
        return None, False
    if row.expires_at is not None and row.expires_at <= now:
        return None, False
    if not row.user.is_active:  # as for sessions: a lockout does not stop open tokens
        return None, False
    stale = row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1)
    return _principal(row.user, "token", raw), stale


def csrf_token(secret: str, cookie_value: str) -> str:
    """The CSRF token that goes with a cookie (a session or the pre-login cookie)."""
    key = hashlib.sha256(("desbumi csrf v1:" + secret).encode("utf-8")).digest()
    return hmac.new(key, cookie_value.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, cookie_value: str, offered: str) -> bool:
    return bool(cookie_value) and hmac.compare_digest(csrf_token(secret, cookie_value), offered)
